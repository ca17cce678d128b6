"""Call detail records: one CDR per call, with an xDR per leg and service.

:class:`CdrBuilder` turns the engine's channel events into CDRs (written durably and
exactly once, surviving restarts); :class:`CdrService` wires it to the store. Queries
and CSV export are in :mod:`orchestrator.store.cdrs` and :mod:`orchestrator.cdr.export`.
See docs/cdrs.md.
"""

from orchestrator.cdr.builder import CdrBuilder, Listener, Lookup
from orchestrator.cdr.disposition import Direction, Disposition
from orchestrator.cdr.persist import CdrStore

__all__ = ["CdrBuilder", "CdrStore", "Direction", "Disposition", "Listener", "Lookup"]
