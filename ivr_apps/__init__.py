"""IVR flows, one module each: ``async def flow(call)`` (see docs/ivr.md).

Each module's name is the key an IVR application names (``"visa_status"``). The
orchestrator re-imports a module when its file changes: no restart needed.
"""
