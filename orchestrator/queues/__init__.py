"""Call queues: the ACD engine and the service around it (see docs/queues.md).

One package, one file per job:

- :mod:`.acd`: the engine-neutral ACD (queues, agents, strategies, offers, waiting
  callers, statistics, the wallboard model). It imports nothing above the
  :class:`~orchestrator.core.Engine` interface and the IVR directory;
- :mod:`.service`: :class:`~orchestrator.queues.service.CallCenter`, the ACD wired into
  the service: configuration from the store (:mod:`.sync`), statistics that survive a
  restart (:mod:`.eventlog`), agents' actions from every channel (:mod:`.actions`);
- :mod:`.events`: queue and agent events on the CTI stream;
- :mod:`.feature_codes`: the agents' feature-code handlers (``*61``-``*63`` by default);
- :mod:`.flow`: the IVR flow ``queue`` (``call.queue(...)``);
- :mod:`.store`: persistence (queues and members, agents, the event log and the kept
  places); the tables are in :mod:`orchestrator.store.models.queues`;
- :mod:`.install`: ``install(deps, ...)`` for the composition root.

The HTTP routes are the API's (api/routes/queues.py, agents.py, wallboard.py): the API
sits above the features, so this package imports nothing of ``api``.

This ``__init__`` imports nothing, so importing :mod:`orchestrator.queues.acd` (the CDR
builder does) loads no service.
"""
