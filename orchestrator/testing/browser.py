"""A real headless Chromium, and the API served from a thread, for browser tests and benches.

::

    server = LiveServer(app)             # uvicorn on 127.0.0.1, a free port, own loop
    server.start()
    result = server.run(some_coroutine())   # runs on the server's event loop
    with chromium() as driver:
        driver.get(server.url + "/wallboard#token=...")
    server.stop()

Chromium and its driver are Debian's ``chromium`` and ``chromium-driver``
(``scripts/setup-host.sh`` installs them); ``ORCH_CHROMIUM`` / ``ORCH_CHROMEDRIVER``
point elsewhere. :func:`missing` says what is absent, so a test can fail clearly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")

CHROMIUM = os.environ.get("ORCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ORCH_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing() -> str | None:
    """Why no browser test can run here, or None when Chromium and its driver exist."""
    absent = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if absent:
        return (
            f"not found: {', '.join(absent)}; install the Debian packages chromium and "
            "chromium-driver (scripts/setup-host.sh does), or set ORCH_CHROMIUM/ORCH_CHROMEDRIVER"
        )
    return None


@contextlib.contextmanager
def chromium(width: int = 1920, height: int = 1080) -> Iterator[Any]:
    """A headless Chromium WebDriver with a ``width`` x ``height`` page, quit on exit."""
    from selenium import webdriver  # a dev dependency: only where browsers run
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # runs as root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--no-first-run",
        "--mute-audio",
        "--disable-extensions",
        # A wallboard is never "in the background": keep its timers and frames running.
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
    ):
        options.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        # The page itself gets exactly width x height (the window adds its frame).
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()


def png_summary(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the image data) of a PNG file.

    Enough to tell a real screenshot from a blank one without an imaging library.
    """
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"{path} is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return width, height, len(set(pixels))


class LiveServer:
    """An ASGI app served by uvicorn from a thread with an event loop of its own."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A restart on the same port must not wait for the old connections' TIME_WAIT.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="live-server", daemon=True)

    def _serve(self) -> None:
        with asyncio.Runner() as runner:
            self.loop = runner.get_loop()
            runner.run(self.server.serve(sockets=[self.sock]))

    def start(self, timeout: float = 20) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.02)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` on the server's event loop and return its result."""
        if self.loop is None:
            coro.close()
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self.sock.close()
