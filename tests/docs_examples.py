"""The docs check: runs the shell examples of README.md and docs/*.md against a service.

Conventions (also in docs/api.md, "Examples in these docs"):

- A fenced block tagged ``sh``, ``bash`` or ``shell`` is one example: it runs whole, in
  bash with ``set -euo pipefail``.
- A block tagged ``console`` holds commands after ``$ `` and, below each, the reply it
  shows. The reply is checked: JSON must have at least the keys shown (recursively, the
  first item of a list of objects standing for all), other text must start with the same line (a
  CSV header, say).
- ``<!-- docs-check: skip: <reason> -->`` on the line before a block excludes it (``make
  run``, engine commands, SIPp); the reason is required, and a marker before anything but
  a shell block is an error, so nothing is left out silently.
- ``curl`` is run with ``--fail-with-body``: any reply but 2xx fails the example.
- Examples of one document run in order, and documents in :data:`ORDER`: variables an
  example sets (``TENANT_ID=$(curl ... | jq -r .id)``) are there for the later ones.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHELL_TAGS = {"sh", "bash", "shell"}
CONSOLE_TAG = "console"
SKIP_MARKER = re.compile(r"^<!--\s*docs-check:\s*skip\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>[^`]*)$")

# The order a newcomer reads them in: later documents use what earlier ones created.
ORDER = (
    "README.md",
    "docs/api.md",
    "docs/provisioning.md",
    "docs/roles.md",
    "docs/ivr.md",
    "docs/cti.md",
    "docs/conferences.md",
    "docs/queues.md",
    "docs/pbx.md",
    "docs/cdrs.md",
    "docs/recordings.md",
    "docs/webhooks.md",
    "docs/billing.md",
    "docs/freeswitch.md",
)

# Every curl of an example must get a 2xx; the body is still printed when it does not.
PREAMBLE = """\
set -euo pipefail
curl() { command curl --fail-with-body --silent --show-error "$@"; }
set -a
"""


class DocsFormatError(ValueError):
    """A document breaks the conventions (a marker with no reason, or on no block)."""


@dataclass(frozen=True)
class Example:
    """One command (console) or block (sh) of a document, and the reply it shows."""

    path: str
    line: int  # of the command's first line, 1-based
    script: str
    expected: str | None = None  # console blocks: the reply shown under the command
    skip: str | None = None  # the marker's reason

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def extract(text: str, path: str) -> list[Example]:
    """The shell examples of one Markdown document, in order (skipped ones included)."""
    lines = text.splitlines()
    examples: list[Example] = []
    pending_skip: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = SKIP_MARKER.match(line.strip())
        if marker:
            reason = (marker.group("reason") or "").strip()
            if not reason:
                raise DocsFormatError(f"{path}:{i + 1}: a docs-check skip needs a reason")
            pending_skip = (i + 1, reason)
            i += 1
            continue
        fence = FENCE.match(line)
        if not fence:
            if pending_skip and line.strip():
                raise DocsFormatError(f"{path}:{pending_skip[0]}: skip marker before no block")
            i += 1
            continue
        end = _closing(lines, i, fence.group("fence"), path)
        words = fence.group("info").split()
        tag = words[0] if words else ""
        body = lines[i + 1 : end]
        skip = pending_skip[1] if pending_skip else None
        if pending_skip and tag not in SHELL_TAGS | {CONSOLE_TAG}:
            raise DocsFormatError(f"{path}:{pending_skip[0]}: skip marker before a {tag!r} block")
        pending_skip = None
        if tag in SHELL_TAGS:
            examples.append(Example(path, i + 2, "\n".join(body) + "\n", skip=skip))
        elif tag == CONSOLE_TAG:
            examples += _console(body, path, i + 2, skip)
        i = end + 1
    if pending_skip:
        raise DocsFormatError(f"{path}:{pending_skip[0]}: skip marker before no block")
    return examples


def _closing(lines: Sequence[str], start: int, fence: str, path: str) -> int:
    for j in range(start + 1, len(lines)):
        text = lines[j].strip()
        if len(text) >= len(fence) and text == fence[0] * len(text):
            return j
    raise DocsFormatError(f"{path}:{start + 1}: a fenced block is never closed")


def _complete(command: str) -> bool:
    """Whether a command is whole: no open quote, no trailing backslash or pipe."""
    if command.rstrip().endswith(("\\", "|", "&&")):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def _console(body: Sequence[str], path: str, first: int, skip: str | None) -> list[Example]:
    examples: list[Example] = []
    j = 0
    while j < len(body):
        if not body[j].startswith("$ "):
            raise DocsFormatError(f"{path}:{first + j}: console output before any `$ ` command")
        start = j
        command = body[j][2:]
        j += 1
        while not _complete(command) and j < len(body):
            command += "\n" + body[j]
            j += 1
        output: list[str] = []
        while j < len(body) and not body[j].startswith("$ "):
            output.append(body[j])
            j += 1
        shown = "\n".join(output).strip()
        examples.append(Example(path, first + start, command + "\n", shown or None, skip))
    return examples


def collect(root: Path, order: Iterable[str] = ORDER) -> list[Example]:
    """Every document's examples in reading order; documents not in ``order`` come last."""
    names = list(order)
    found = ["README.md", *sorted(f"docs/{p.name}" for p in (root / "docs").glob("*.md"))]
    names += [n for n in found if n not in names]
    examples: list[Example] = []
    for name in names:
        path = root / name
        if path.exists():
            examples += extract(path.read_text(), name)
    return examples


# -- checking a reply's shape -------------------------------------------------------------


def shape_errors(shown: Any, actual: Any, where: str = "$") -> list[str]:
    """What the shown JSON has that the actual reply lacks (keys, or the kind of value)."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: shown an object, got {type(actual).__name__}"]
        errors = []
        for key, value in shown.items():
            if key not in actual:
                errors.append(f"{where}: no key {key!r} (got {sorted(actual)})")
            else:
                errors += shape_errors(value, actual[key], f"{where}.{key}")
        return errors
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{where}: shown a list, got {type(actual).__name__}"]
        if not shown or not isinstance(shown[0], dict | list):
            return []  # a list of plain values: how many is a value, not a shape
        if not actual:
            return [f"{where}: shown items, got an empty list"]
        return shape_errors(shown[0], actual[0], f"{where}[0]")
    return []


def reply_errors(shown: str, actual: str) -> list[str]:
    """Whether an example's real reply matches the reply its document shows."""
    try:
        shown_json = json.loads(shown)
    except ValueError:
        first_shown = shown.splitlines()[0].strip()
        first_actual = (actual.strip().splitlines() or [""])[0].strip()
        if first_shown != first_actual:
            return [f"first line shown {first_shown!r}, got {first_actual!r}"]
        return []
    try:
        actual_json = json.loads(actual)
    except ValueError:
        return [f"shown JSON, got {actual[:200]!r}"]
    return shape_errors(shown_json, actual_json)


# -- running -------------------------------------------------------------------------------


@dataclass
class Outcome:
    example: Example
    returncode: int
    stdout: str
    stderr: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        return (
            f"{self.example.where}: {'; '.join(self.problems)}\n"
            f"--- example\n{self.example.script}--- stdout\n{self.stdout[-2000:]}\n"
            f"--- stderr\n{self.stderr[-2000:]}"
        )


class Session:
    """A shell session across examples: the variables one example sets reach the next."""

    def __init__(self, env: dict[str, str], cwd: Path, timeout: float = 60) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.timeout = timeout
        self.done: set[str] = set()  # documents whose examples ran

    def run(self, example: Example) -> Outcome:
        with tempfile.NamedTemporaryFile(suffix=".env") as dump:
            # The example's variables, NUL-separated so values may hold newlines.
            script = f'{PREAMBLE}{example.script}\nset +a\nenv -0 > "{dump.name}"\n'
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-c", script],
                env=self.env,
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
            problems = []
            if done.returncode != 0:
                problems.append(f"exit status {done.returncode}")
            else:
                self.env = _parse_env(Path(dump.name).read_bytes())
                if example.expected is not None:
                    problems += reply_errors(example.expected, done.stdout)
        return Outcome(example, done.returncode, done.stdout, done.stderr, problems)


def _parse_env(raw: bytes) -> dict[str, str]:
    env = {}
    for item in raw.decode().split("\0"):
        name, sep, value = item.partition("=")
        if sep and name not in {"_", "SHLVL", "PWD", "OLDPWD"}:
            env[name] = value
    return env


def base_env(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment for the examples: PATH and the locale, plus ``extra``."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "HOME"}}
    return {**keep, **extra}
