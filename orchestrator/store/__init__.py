"""Persistence: SQLModel tables (:mod:`.models`, one module per feature), the database
engine and migrations (:mod:`.db`), and keyword-only data functions (:mod:`.crud` for
tenants, extensions and aliases; :mod:`.dids` and :mod:`.did_import` for DIDs;
:mod:`.ivr_apps` for IVR applications and their access numbers; :mod:`.trunks` for
SIP trunks; :mod:`.routes` for outbound routes and ``resolve_outbound``;
:mod:`.users` for API users and tokens; :mod:`.cdrs`; :mod:`.tariffs`, :mod:`.billing`,
:mod:`.ledger` and :mod:`.leases` for billing; :mod:`.webhooks`; :mod:`.recordings`).
Call queues keep their data functions in :mod:`orchestrator.queues.store`.
"""
