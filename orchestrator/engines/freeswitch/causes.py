"""FreeSWITCH's hangup cause names and the Q.850 numbers the core speaks.

FreeSWITCH names every cause (``Hangup-Cause: USER_BUSY``, ``uuid_kill <uuid> USER_BUSY``,
``-ERR USER_BUSY`` from a failed originate); the names up to 127 are the Q.850 causes of
switch_types.h's ``switch_call_cause_t``, 1:1. The ones above are FreeSWITCH's own; each
is given the Q.850 cause that says the same to a CDR (``ORIGINATOR_CANCEL``: the caller
gave up, a normal clearing; ``USER_NOT_REGISTERED``: the callee is absent).
"""

from __future__ import annotations

from orchestrator.core.outcomes import HangupCause

Q850_NAMES: dict[str, int] = {
    "UNSPECIFIED": 0,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": 3,
    "CHANNEL_UNACCEPTABLE": 6,
    "CALL_AWARDED_DELIVERED": 7,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "REDIRECTION_TO_NEW_DESTINATION": 23,
    "EXCHANGE_ROUTING_ERROR": 25,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "FACILITY_REJECTED": 29,
    "RESPONSE_TO_STATUS_ENQUIRY": 30,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
    "ACCESS_INFO_DISCARDED": 43,
    "REQUESTED_CHAN_UNAVAIL": 44,
    "PRE_EMPTED": 45,
    "FACILITY_NOT_SUBSCRIBED": 50,
    "OUTGOING_CALL_BARRED": 52,
    "INCOMING_CALL_BARRED": 54,
    "BEARERCAPABILITY_NOTAUTH": 57,
    "BEARERCAPABILITY_NOTAVAIL": 58,
    "SERVICE_UNAVAILABLE": 63,
    "BEARERCAPABILITY_NOTIMPL": 65,
    "CHAN_NOT_IMPLEMENTED": 66,
    "FACILITY_NOT_IMPLEMENTED": 69,
    "SERVICE_NOT_IMPLEMENTED": 79,
    "INVALID_CALL_REFERENCE": 81,
    "INCOMPATIBLE_DESTINATION": 88,
    "INVALID_MSG_UNSPECIFIED": 95,
    "MANDATORY_IE_MISSING": 96,
    "MESSAGE_TYPE_NONEXIST": 97,
    "WRONG_MESSAGE": 98,
    "IE_NONEXIST": 99,
    "INVALID_IE_CONTENTS": 100,
    "WRONG_CALL_STATE": 101,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "MANDATORY_IE_LENGTH_ERROR": 103,
    "PROTOCOL_ERROR": 111,
    "INTERWORKING": 127,
}
# FreeSWITCH's own causes (above 127), as the Q.850 cause a CDR should read.
OWN_CAUSES: dict[str, int] = {
    "SUCCESS": HangupCause.NORMAL_CLEARING,
    "ORIGINATOR_CANCEL": HangupCause.NORMAL_CLEARING,
    "LOSE_RACE": HangupCause.NORMAL_CLEARING,
    "MANAGER_REQUEST": HangupCause.NORMAL_CLEARING,
    "BLIND_TRANSFER": HangupCause.NORMAL_CLEARING,
    "ATTENDED_TRANSFER": HangupCause.NORMAL_CLEARING,
    "PICKED_OFF": HangupCause.NORMAL_CLEARING,
    "ALLOTTED_TIMEOUT": HangupCause.NO_ANSWER,
    "PROGRESS_TIMEOUT": HangupCause.NO_ANSWER,
    "USER_NOT_REGISTERED": HangupCause.SUBSCRIBER_ABSENT,
    "GATEWAY_DOWN": HangupCause.NETWORK_OUT_OF_ORDER,
    "MEDIA_TIMEOUT": HangupCause.NORMAL_TEMPORARY_FAILURE,
    "CRASH": HangupCause.NORMAL_TEMPORARY_FAILURE,
    "SYSTEM_SHUTDOWN": HangupCause.NORMAL_TEMPORARY_FAILURE,
    "NO_PICKUP": HangupCause.NO_ANSWER,
    "INVALID_GATEWAY": HangupCause.NO_ROUTE_DESTINATION,
    "INVALID_PROFILE": HangupCause.NO_ROUTE_DESTINATION,
    "INVALID_URL": 28,  # INVALID_NUMBER_FORMAT
}
CAUSE_NAMES: dict[int, str] = {code: name for name, code in Q850_NAMES.items()}


def cause_code(name: str, q850: str = "") -> int:
    """The Q.850 cause of FreeSWITCH's cause ``name`` (``q850``: the channel's
    ``hangup_cause_q850`` when the event has it, which wins for the Q.850 names)."""
    name = name.strip().upper()
    if name in Q850_NAMES:
        return Q850_NAMES[name]
    if name in OWN_CAUSES:
        return int(OWN_CAUSES[name])
    if q850.isdigit() and 0 <= int(q850) <= 127:
        return int(q850)
    return int(HangupCause.NORMAL_CLEARING)


def cause_name(code: int) -> str:
    """The name ``uuid_kill`` takes for the Q.850 ``code`` (an unnamed code: its number,
    which FreeSWITCH's switch_channel_str2cause also reads)."""
    return CAUSE_NAMES.get(code, str(code))
