"""The queues' persistence: keyword-only data functions over the queue tables.

- :mod:`.queues`: call queues and their members (``load_acd`` reads what the ACD needs);
- :mod:`.agents`: queue agents;
- :mod:`.runtime`: what the running ACD writes back (event log, places, last agents);
- :mod:`.places`: :class:`~orchestrator.queues.store.places.PlaceStore`, the ACD's place
  keeper that writes places through :mod:`.runtime` (the ACD side is
  :mod:`orchestrator.queues.acd.places`).

The SQLModel tables stay in :mod:`orchestrator.store.models.queues`: the store's one
metadata (alembic, the schema tests) is built from :mod:`orchestrator.store.models`.
"""
