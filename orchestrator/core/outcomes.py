"""The engine-neutral words for how dials and calls end, and what kind a channel is.

Each adapter maps its engine's own vocabulary onto these (Asterisk: ``DIALSTATUS``,
``AST_CAUSE_*``, channel technologies; FreeSWITCH: ``originate_disposition``,
``hangup_cause`` names, ``Channel-Name`` prefixes), so the features that read them (CDRs,
CTI, queues) stay the same on every engine.

Example::

    if event.status is DialOutcome.BUSY and event.cause == HangupCause.USER_BUSY: ...
"""

from __future__ import annotations

import enum


class DialOutcome(enum.StrEnum):
    """The final outcome of one dial attempt (``ChannelDialed.status``).

    How engines do it: Asterisk's ``DIALSTATUS`` (ANSWER, BUSY, NOANSWER, CANCEL,
    CONGESTION, CHANUNAVAIL; DONTCALL and TORTURE from the privacy manager are
    ``rejected``), mapped in orchestrator/engines/asterisk/translate.py; FreeSWITCH's
    ``originate_disposition`` / hangup cause of the b-leg (SUCCESS, USER_BUSY,
    NO_ANSWER, ORIGINATOR_CANCEL, NORMAL_CIRCUIT_CONGESTION, CALL_REJECTED...).
    """

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    # The caller gave up while the callee rang.
    CANCELLED = "cancelled"
    # No circuit or route: the network or the engine could not place the call.
    CONGESTION = "congestion"
    # The callee cannot be reached at all (not registered, unknown, offline).
    UNAVAILABLE = "unavailable"
    # The callee's side refused the call (screening, call rejected).
    REJECTED = "rejected"


class HangupCause(enum.IntEnum):
    """The Q.850 causes the orchestrator names (events carry plain ints: any Q.850 value
    an engine reports goes through, and CDRs store the number).

    How engines do it: Asterisk's ``AST_CAUSE_*`` are the Q.850 numbers (ARI ``cause``,
    ``HANGUPCAUSE``); FreeSWITCH's ``hangup_cause`` names map 1:1 onto them
    (``NORMAL_CLEARING`` = 16, ``USER_BUSY`` = 17, ...; ``variable_hangup_cause_q850``).
    """

    # No cause given (Asterisk: a Local channel destroyed without one).
    NOT_DEFINED = 0
    UNALLOCATED_NUMBER = 1
    NO_ROUTE_DESTINATION = 3
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    DESTINATION_OUT_OF_ORDER = 27
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    NORMAL_TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    REQUESTED_CHANNEL_UNAVAILABLE = 44
    INCOMPATIBLE_DESTINATION = 88
    INTERWORKING = 127


# The cause a dialed channel ends with for each failed dial outcome (as Asterisk's
# app_dial and FreeSWITCH's originate report them).
DIAL_OUTCOME_CAUSES: dict[DialOutcome, HangupCause] = {
    DialOutcome.BUSY: HangupCause.USER_BUSY,
    DialOutcome.NO_ANSWER: HangupCause.NO_ANSWER,
    DialOutcome.UNAVAILABLE: HangupCause.SUBSCRIBER_ABSENT,
    DialOutcome.CONGESTION: HangupCause.NORMAL_CIRCUIT_CONGESTION,
    DialOutcome.CANCELLED: HangupCause.NORMAL_CLEARING,
    DialOutcome.REJECTED: HangupCause.CALL_REJECTED,
}


class ChannelKind(enum.StrEnum):
    """What an observed channel is (``ChannelStarted.kind``).

    How engines do it: Asterisk, from the channel's technology and endpoint (a PJSIP
    channel of a SIP user ``<user>@<domain>`` is a phone, of another endpoint a trunk;
    Local, Snoop, Announcer, Recorder, UnicastRTP... channels are internal), in
    orchestrator/engines/asterisk/observe.py; FreeSWITCH, from the channel name's profile
    and gateway (``sofia/gateway/...`` is a trunk) and ``loopback/`` for internal ones.
    """

    # A SIP user's phone (or softphone, or anything registered as a user).
    PHONE = "phone"
    # A line to the outside: a SIP trunk (or another external technology).
    TRUNK = "trunk"
    # The engine's own plumbing, never a party of the call: one half of a loopback
    # (Asterisk Local) channel, a snoop or announcer channel, a media stream.
    INTERNAL = "internal"
