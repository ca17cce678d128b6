"""FreeSWITCH's side of provisioning: tenants' SIP users and dialplan, served per lookup.

* :mod:`.render`: each tenant's answers from the templates in ``freeswitch_conf/tenant/``
  (values checked up front, documents rendered at their first lookup: :mod:`.documents`);
* :mod:`.apply`: :class:`~.apply.FreeSwitchProvisioner` validates a tenant's whole
  snapshot, swaps its answers in at once and flushes FreeSWITCH's user cache;
* :mod:`.xml_curl`: the HTTP answers to ``mod_xml_curl``'s directory and dialplan lookups.

The FreeSWITCH kit builds them; tenants are read only through the kit's
``load_tenant``/``load_all`` (as for Asterisk, :mod:`orchestrator.provisioning`).
"""
