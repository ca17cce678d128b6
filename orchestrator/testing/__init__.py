"""Test tooling: real SIP phones driven by SIPp (``sipp``), a realtime stub for them."""

from orchestrator.testing.sipp import (
    Answerer,
    AnswerResult,
    CallResult,
    LoadResult,
    RegisterResult,
    SippError,
    call,
    load,
    register,
    uas,
    unregister,
)

__all__ = [
    "AnswerResult",
    "Answerer",
    "CallResult",
    "LoadResult",
    "RegisterResult",
    "SippError",
    "call",
    "load",
    "register",
    "uas",
    "unregister",
]
