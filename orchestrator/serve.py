"""``orchestrator run``: the engine instance, then the API, and who stops what.

The service stops only an engine it started itself, and only after it served:

* an engine found already running belongs to whoever started it (another
  ``orchestrator run``, ``orchestrator engine start``, a test session): its calls
  are not ours to cut, so it is left running;
* a start-up error (bad settings, a port in use, a failed migration) leaves the
  engine running too: stopping it would turn a configuration mistake into dropped
  calls, and the next start finds it ready;
* on Ctrl-C or SIGTERM the engine we started stops once no channel is up, at the
  latest after ``ORCH_ENGINE_STOP_GRACE_S`` seconds (printed); a second Ctrl-C or
  SIGTERM stops it at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import urllib.error
from types import FrameType

from orchestrator.engines import local_instance
from orchestrator.engines.kit import LocalInstance
from orchestrator.runtime import build_app
from orchestrator.settings import Settings

STARTUP_FAILURE = 3  # uvicorn's exit status when the application does not start


def _say(message: str) -> None:
    print(message, flush=True)


class Interrupts:
    """Counts Ctrl-C/SIGTERM: the first asks for a graceful stop, the second forces.

    uvicorn handles the signals while it serves and hands the ones it caught back
    to the handlers it found (these) once it has shut down, so the count covers the
    whole run.
    """

    def __init__(self) -> None:
        self.count = 0
        self.forced = threading.Event()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count >= 2:
            self.forced.set()


def _channels_up(instance: LocalInstance) -> int:
    try:
        return instance.channels()
    except (OSError, urllib.error.URLError, ValueError):
        return 0  # the engine no longer answers: nothing left to wait for


def stop_when_idle(
    instance: LocalInstance, *, grace_s: float, forced: threading.Event, poll_s: float = 0.5
) -> None:
    """Stop ``instance`` once no channel is up, after ``grace_s`` or when ``forced``."""
    deadline = time.monotonic() + grace_s
    announced = False
    while not forced.is_set():
        up = _channels_up(instance)
        if up == 0:
            break
        if time.monotonic() >= deadline:
            _say(f"engine: grace of {grace_s:g} s over, stopping it with {up} channel(s) up")
            break
        if not announced:
            _say(
                f"engine: {up} channel(s) up; the engine stops when they have ended, "
                f"at the latest in {grace_s:g} s (Ctrl-C again to stop it now)"
            )
            announced = True
        forced.wait(poll_s)
    if forced.is_set():
        _say("engine: stopping now (second Ctrl-C)")
    instance.stop()


def serve(settings: Settings, *, start_engine: bool = True) -> None:
    """``make run``: the engine instance, then the API on ORCH_API_HOST:ORCH_API_PORT."""
    import uvicorn

    from orchestrator.front_door import server_config

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    interrupts = Interrupts()
    owned: LocalInstance | None = None
    found: LocalInstance | None = None
    instance = local_instance(settings) if start_engine else None
    if instance is not None:
        try:
            instance.install()
            started = instance.start()
        except RuntimeError as exc:  # the instance's InstanceError: no binary, no answer...
            _say(f"engine: {exc}")
            raise SystemExit(STARTUP_FAILURE) from None
        if started:
            owned = instance
        else:
            found = instance
        settings = Settings()  # now with the instance's credentials
    server: uvicorn.Server | None = None
    try:
        app = build_app(settings)
        config = server_config(
            app, host=settings.api_host, port=settings.api_port, log_level="info"
        )
        server = uvicorn.Server(config)
        # Until here Ctrl-C aborts the start-up (KeyboardInterrupt); from here on it
        # is counted, to stop the service first and the engine when idle.
        interrupts.install()
        server.run()
    finally:
        served = server is not None and server.started
        if owned is not None and not served:
            _say(
                f"engine: the service did not start; instance {owned.name} is left running "
                "(`orchestrator engine stop` stops it)"
            )
        elif owned is not None:
            stop_when_idle(owned, grace_s=settings.engine_stop_grace_s, forced=interrupts.forced)
        if found is not None:
            _say(f"engine: instance {found.name} was running before this service: left running")
    if not served:
        raise SystemExit(STARTUP_FAILURE)
