"""Every shell example of README.md and docs/*.md runs against a real service.

The service is ``tests/docs_service.py`` (the whole app as ``make run`` builds it, on
SQLite and a FakeEngine whose phones answer), served by uvicorn on a free port in a
process of its own. The examples get ``ORCH`` (its URL) and ``TOKEN`` (the first admin's);
the conventions are in tests/docs_examples.py and docs/api.md.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs_examples import ORDER, Session, base_env, collect

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "docs-check-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("docs-service")
    port = free_port()
    env = {
        **os.environ,
        "ORCH_STATE_DIR": str(state),
        "ORCH_DATABASE_URL": f"sqlite:///{state / 'orchestrator.db'}",
        "ORCH_API_PORT": str(port),
        "ORCH_ADMIN_TOKEN": ADMIN_TOKEN,
        "ORCH_ENGINE": "fake",
    }
    log = (state / "service.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.docs_service"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # migrations on a loaded machine
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"docs service did not start:\n{(state / 'service.log').read_text()}"
                    )
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def shell(service: str, tmp_path_factory: pytest.TempPathFactory) -> Session:
    # An empty directory of its own: examples that keep a reply in a file (tee call.json)
    # cannot meet another run's.
    workdir = tmp_path_factory.mktemp("docs-examples")
    # PYTHON / EXAMPLES: the examples' scripts (examples/*.py) with this interpreter.
    env = {"ORCH": service, "TOKEN": ADMIN_TOKEN, "PYTHON": sys.executable,
           "EXAMPLES": str(ROOT / "examples")}  # fmt: skip
    return Session(base_env(env), cwd=workdir)


EXAMPLES = collect(ROOT)


DOCUMENTS = [d for d in ORDER if (ROOT / d).exists()]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_examples_of(document: str, shell: Session) -> None:
    """The document's examples, in order, each answered 2xx with the reply it shows.

    The documents before it run first when they have not (``pytest -k cti.md``): its
    examples use what theirs created.
    """
    for earlier in DOCUMENTS[: DOCUMENTS.index(document)]:
        if earlier not in shell.done:
            run_document(shell, earlier)
    run_document(shell, document)


def run_document(shell: Session, document: str) -> None:
    shell.done.add(document)  # once, even when it fails: the failure is reported there
    for example in EXAMPLES:
        if example.path == document and not example.skip:
            outcome = shell.run(example)
            assert outcome.ok, outcome.report()


def test_every_document_is_in_the_reading_order() -> None:
    """A new document's examples must be placed in ORDER, after what they depend on."""
    assert {e.path for e in EXAMPLES} <= set(ORDER)
