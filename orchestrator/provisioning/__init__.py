"""Per-tenant engine configuration, the part every engine shares.

* :mod:`.base`: what the API needs (:class:`~.base.Provisioner`: a tenant changed or
  was removed), what the composition root needs (:class:`~.base.EngineProvisioner`:
  bring everything in sync) and an engine's configuration side
  (:class:`~.base.EngineConfig`);
* :mod:`.tenant`: the :class:`~.tenant.TenantConfig` snapshot, pure values an engine's
  provisioner renders;
* :mod:`.data`: builds and validates it from the store (``load_tenant``, ``load_all``;
  the composition root hands them to the engine's kit).
* :mod:`.ownership`: the mark on every file a provisioner writes, so a service removes
  only the engine configuration it wrote itself.
* :mod:`.heap`: a full apply's build with the garbage collector paused (both engines).

Each engine's kit brings its own provisioner that renders and applies it (Asterisk:
:mod:`orchestrator.engines.asterisk.provisioning`).
"""
