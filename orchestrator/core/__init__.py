"""The engine-neutral core: legs, calls, events, typed targets and the Engine interface.

It imports nothing else of the project; adapters and features build on it.
"""

from orchestrator.core.call import Call, Leg, LegState
from orchestrator.core.engine import Engine, EngineCapabilities, EngineStatus, EventHandler
from orchestrator.core.errors import (
    CallError,
    ConfigApplyError,
    ConflictError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidTransitionError,
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    PermissionDeniedError,
    ValidationError,
)
from orchestrator.core.fake import FakeEngine
from orchestrator.core.journal import LegRecord
from orchestrator.core.outcomes import ChannelKind, DialOutcome, HangupCause
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Extension, Routing, SipUser, Target, TrunkNumber

__all__ = [
    "Call",
    "CallError",
    "ChannelKind",
    "ConfigApplyError",
    "ConflictError",
    "DialOutcome",
    "Engine",
    "EngineCapabilities",
    "EngineError",
    "EngineStatus",
    "EngineTimeoutError",
    "EngineUnavailableError",
    "EventHandler",
    "Extension",
    "FakeEngine",
    "HangupCause",
    "InvalidTransitionError",
    "Leg",
    "LegGoneError",
    "LegRecord",
    "LegState",
    "NotFoundError",
    "OrchestratorError",
    "PermissionDeniedError",
    "Prompt",
    "Routing",
    "SipUser",
    "Target",
    "TrunkNumber",
    "ValidationError",
]
