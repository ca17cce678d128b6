"""IVR flows written in Python: ``async def flow(call: IvrCall) -> None``.

See docs/ivr.md for how to write, test and deploy one. The pieces:

- :class:`IvrCall` (``call``): answer, play, collect, record, dial, transfer...;
- :class:`IvrRunner`: starts a flow for each call on an access number;
- :class:`AppRegistry`: finds flows in ivr_apps/ (hot-reloaded) and installed packages;
- :mod:`orchestrator.ivr.testing`: ``run_flow`` runs a flow on a scripted caller.
"""

from orchestrator.ivr.call import DialResult, IvrCall, Recording
from orchestrator.ivr.directory import Directory, StaticDirectory, Target
from orchestrator.ivr.errors import CallEnded, CallerHungUp, CallTransferred, FlowNotFoundError
from orchestrator.ivr.registry import AppRegistry, Flow
from orchestrator.ivr.runner import AppSpec, IvrRunner

__all__ = [
    "AppRegistry",
    "AppSpec",
    "CallEnded",
    "CallTransferred",
    "CallerHungUp",
    "DialResult",
    "Directory",
    "Flow",
    "FlowNotFoundError",
    "IvrCall",
    "IvrRunner",
    "Recording",
    "StaticDirectory",
    "Target",
]
