"""The wallboard page as the browser tests read it, in a real Chromium.

Shared by the FakeEngine test (``tests/browser/test_wallboard_chromium.py``) and the
real-engine one (``tests/engine/test_queues_wallboard.py``)::

    page = WallboardPage(driver, tenant_id=1, queue="wb")
    page.open(f"{url}/wallboard?tenant_id=1&queue=wb#token={token}")   # live, recording
    page.wait(lambda s: s.get("waiting") == "3", 5, "three callers shown")
    ...
    change = page.first_change(page.log(), since=event.timestamp, shows=lambda s: ...)
    change.at - event.timestamp                                        # event -> screen, s

A tile is read as a flat dict of the texts it shows: every ``data-f`` field
(``waiting``, ``longest_wait``, ``answered``, ``abandoned``, ``sl_label``,
``service_level``, ``service_level_with_abandoned``, ``asa``, ``aht``, ``callbacks``),
``agents.<state>`` for the counts by state and ``agent.<agent_id>`` for each agent row
(``"paused | Paused · lunch"``). :meth:`WallboardPage.record` keeps, in the page, every
change of that dict with the time the page made it (a ``MutationObserver`` runs right
after the page's render, in the frame that paints it), so a test can measure how long
each event took to reach the screen without polling the page while calls run.
:func:`duration`, :func:`rounded` and :func:`percent` format numbers as the page does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Shown = dict[str, str]
# What the page shows for a figure with no value yet (an en dash).
NONE = "\u2013"

# A function of the tile's selector returning the flat dict of the module doc.
_READ = """
(selector) => {
    const tile = document.querySelector(selector);
    if (!tile) return {};
    const out = {};
    for (const n of tile.querySelectorAll("[data-f]")) out[n.dataset.f] = n.textContent;
    for (const n of tile.querySelectorAll("[data-state-count]"))
        out["agents." + n.dataset.stateCount] = n.textContent;
    for (const n of tile.querySelectorAll("[data-agent]"))
        out["agent." + n.dataset.agent] = n.dataset.state + " | " +
            n.querySelector(".what").textContent;
    return out;
}
"""

_RECORD = f"""
const read = {_READ};
const selector = arguments[0];
const log = window.wallboardLog = [];
let last = "";
const note = () => {{
    const shown = read(selector);
    const text = JSON.stringify(shown);
    if (text === last) return;  // e.g. only an agent's time-in-state ticked
    last = text;
    log.push({{at: performance.timeOrigin + performance.now(), shown}});
}};
new MutationObserver(note).observe(document.getElementById("board"), {{
    subtree: true, childList: true, characterData: true, attributes: true,
    attributeFilter: ["data-state"],
}});
note();
"""


@dataclass(frozen=True, slots=True)
class Change:
    """What the tile showed from ``at`` (epoch seconds, the page's clock) on."""

    at: float
    shown: Shown


class WallboardPage:
    """One queue's tile on the wallboard page open in ``driver`` (a Selenium WebDriver)."""

    def __init__(self, driver: Any, tenant_id: int | str, queue: str) -> None:
        self.driver = driver
        self.tile = f'[data-queue="{tenant_id}/{queue}"]'

    def open(self, url: str, timeout: float = 10) -> None:
        """Load the page, wait until its WebSocket is live, and start :meth:`record`."""
        self.driver.get(url)
        self.wait_js("return window.wallboard.connected", timeout, "the page is live")
        self.record()

    def shown(self) -> Shown:
        """The tile now (empty before the first snapshot shows it)."""
        return self.driver.execute_script(  # type: ignore[no-any-return]
            f"return ({_READ})(arguments[0]);", self.tile
        )

    def wait(
        self, shows: Callable[[Shown], bool], timeout: float = 5, what: str = "", poll: float = 0.01
    ) -> Shown:
        """Wait until the tile ``shows`` it; return what it shows then."""
        from selenium.webdriver.support.ui import WebDriverWait

        seen: list[Shown] = []

        def check(_: Any) -> Shown | None:
            seen[:] = [self.shown()]
            return seen[0] if shows(seen[0]) else None

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=poll).until(check)  # type: ignore[no-any-return]
        except Exception as exc:
            raise AssertionError(f"the page did not show {what} in {timeout} s: {seen}") from exc

    def wait_js(self, script: str, timeout: float = 5, what: str = "") -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.01).until(
            lambda d: d.execute_script(script), message=what
        )

    def record(self) -> None:
        """Start keeping every change of the tile in the page (:meth:`log` reads them)."""
        self.driver.execute_script(_RECORD, self.tile)

    def log(self) -> list[Change]:
        """The tile's changes since :meth:`record`, oldest first."""
        raw = self.driver.execute_script("return window.wallboardLog")
        return [Change(at=entry["at"] / 1000, shown=entry["shown"]) for entry in raw]

    @staticmethod
    def first_change(
        log: list[Change], since: float, shows: Callable[[Shown], bool]
    ) -> Change | None:
        """The first change at or after ``since`` that ``shows`` it, if the tile did not
        show it just before ``since`` (else the event changed nothing on the page)."""
        before = [c for c in log if c.at < since]
        if before and shows(before[-1].shown):
            return None
        return next((c for c in log if c.at >= since and shows(c.shown)), None)


def duration(seconds: float | None) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour), seconds cut, as the page shows a time."""
    if seconds is None:
        return NONE
    s = max(0, math.floor(seconds))
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02}:{sec:02}" if h else f"{m}:{sec:02}"


def rounded(seconds: float | None) -> str:
    """ASA and AHT as the page shows them: :func:`duration` of the nearest second."""
    return NONE if seconds is None else duration(math.floor(seconds + 0.5))  # JS Math.round


def percent(ratio: float | None) -> str:
    """A service level as the page shows it (``62.5 %``)."""
    return NONE if ratio is None else f"{ratio * 100:.1f} %"
