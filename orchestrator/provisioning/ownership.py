"""Engine configuration the service wrote itself: the mark on every file it writes.

An orchestrator removes only engine configuration it wrote (issue 11): two services
pointed at one engine by mistake must not wipe each other's tenants. Every file a
provisioner writes starts with :func:`mark`, the service's identity (``ORCH_SERVICE_ID``)
in a comment of the file's own syntax. The rules, the same for every engine:

* a file with this service's mark may be rewritten and removed;
* a file with no mark (written by hand, or before files were marked) is rewritten for a
  tenant of ours, never removed;
* a file with another service's mark is neither rewritten nor removed
  (:func:`foreign_owner`).

::

    text = mark("a1b2c3") + body           # "; orchestrator service a1b2c3: ..."
    owner_of(text) == "a1b2c3"
    foreign_owner(text, "a1b2c3") is None  # ours
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# The comment openers of the engines' configuration files (.conf, XML, shell, JS/Lua).
_MARK = re.compile(r"(?:;|#|<!--|//|--) orchestrator service (\S+):")


def mark(owner: str, *, comment: str = ";", end: str = "") -> str:
    """The first line of every file the service ``owner`` writes.

    ``comment`` opens a comment in the file's syntax and ``end`` closes it, e.g.
    ``mark(owner, comment="<!--", end=" -->")`` for an XML file.
    """
    return (
        f"{comment} orchestrator service {owner}: written from its store; "
        f"other services leave it{end}\n"
    )


def owner_of(text: str | None) -> str | None:
    """The service that wrote a file (from its first line), or None for an unmarked file."""
    m = _MARK.match(text or "")
    return m.group(1) if m else None


def foreign_owner(text: str | None, owner: str) -> str | None:
    """Another service's identity if it wrote ``text``; None if ``owner``'s or unmarked."""
    other = owner_of(text)
    return other if other not in (None, owner) else None


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content at once: the engine reads the old file or the new one.

    Plain ``os`` calls (open, write, close, rename): a full apply writes a file per
    tenant, and pathlib's file objects cost more than the system calls themselves."""
    target = os.fspath(path)
    head, name = os.path.split(target)
    tmp = os.path.join(head, f".{name}.tmp")
    data = memoryview(text.encode())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
    # rename() is atomic: never half of a file.
    os.replace(tmp, target)
