"""What an engine itself recorded about a leg: the seam for CDRs across the orchestrator's gaps.

While the orchestrator is down (killed, restarting, stopped) the engine keeps switching
calls; what happened then is only in the engine's own record of its channels. An engine
that keeps such a journal answers :meth:`~orchestrator.core.engine.Engine.journal` with
one :class:`LegRecord` per leg it knows: when it was answered and ended, and why.

How engines do it: Asterisk writes CEL ``ANSWER`` and ``HANGUP`` events to a CSV file in
the instance's directory (cel_custom, see orchestrator/engines/asterisk/journal.py);
FreeSWITCH's mod_json_cdr writes one JSON CDR per channel to disk (retry-to-disk), with
``answer_epoch``/``end_epoch`` and ``hangup_cause_q850``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LegRecord:
    """One leg as the engine recorded it; times are Unix seconds, None when not (yet) seen.

    ``cause`` is the Q.850 hangup cause (None when the engine did not record one).
    """

    leg_id: str
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int | None = None

    def merge(self, other: LegRecord) -> LegRecord:
        """This record completed by a later one of the same leg (the first answer and
        end win: an engine may write an event twice, e.g. a journal read across a
        rotation)."""
        return LegRecord(
            self.leg_id,
            self.answered_at if self.answered_at is not None else other.answered_at,
            self.ended_at if self.ended_at is not None else other.ended_at,
            self.cause if self.cause is not None else other.cause,
        )
