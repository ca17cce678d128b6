"""An engine instance's ``credentials.json``: generated secrets, readable by their owner only.

Both local instance managers (Asterisk, FreeSWITCH) keep their generated passwords and
secrets in one such file, which the service then reads by itself::

    creds = load_or_create(path, lambda: {"esl_password": secrets.token_urlsafe(24)})
    rewrite(path, creds | {"esl_port": 8021})
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

Credentials = dict[str, str | int]


def load_or_create(path: Path, generate: Callable[[], Credentials]) -> Credentials:
    """The file's credentials, or ``generate()``'s written there the first time (mode
    0600, created exclusively: of two first runs, the second fails rather than both
    believing their own secrets)."""
    if path.exists():
        data: Credentials = json.loads(path.read_text())
        return data
    data = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    return data


def rewrite(path: Path, data: Credentials) -> None:
    """Replace the file whole with ``data`` (mode 0600; a reader never sees half of it)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    tmp.replace(path)
