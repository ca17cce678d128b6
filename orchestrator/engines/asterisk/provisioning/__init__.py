"""Asterisk's side of provisioning: each tenant's dialplan file and PJSIP objects.

* :mod:`.render`: the tenant's ``tenants/t<id>.conf`` and its PJSIP endpoint, auth and
  AOR rows, from the templates in ``dialplan_templates/asterisk/tenant/``;
* :mod:`.apply`: :class:`~.apply.AsteriskProvisioner` writes, reloads, verifies and rolls
  back, and removes only the files this service wrote;
* :mod:`.realtime`: the HTTP answers to ``res_config_curl``'s lookups of those rows.

The Asterisk kit builds them. What every engine shares (the :class:`Provisioner`
interfaces, the validated :class:`TenantConfig` read from the store) stays in
:mod:`orchestrator.provisioning`; the provisioner reads tenants only through the
``load_tenant``/``load_all`` callables of the kit's ``KitDeps``.
"""
