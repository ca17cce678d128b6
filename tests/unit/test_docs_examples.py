"""The docs check itself: it finds the examples, and fails when one is wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.docs_examples import DocsFormatError, Session, base_env, extract, reply_errors

DOC = """\
# Sample

```sh
TENANT_ID=$(curl -s -X POST "$ORCH/tenants" -H 'Content-Type: application/json' \\
     -d '{"name": "Acme"}' | jq -r .id)
```

```console
$ curl -s -X POST "$ORCH/tenants" -H 'Content-Type: application/json' -d '{"name":
  "Acme"}'
{"id": 1, "name": "Acme"}
$ echo "$TENANT_ID"
1
```

<!-- docs-check: skip: needs the real engine -->
```sh
make run
```

```python
print("not shell")
```
"""


class Api(BaseHTTPRequestHandler):
    """Like the real API: a JSON body needs its Content-Type, else 422."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Type") != "application/json":
            self._reply(422, {"error_id": "invalid-input"})
        else:
            self._reply(201, {"id": 1, **json.loads(body)})

    def _reply(self, status: int, data: dict[str, object]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def orch() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def session(orch: str, tmp_path: Path) -> Session:
    return Session(base_env({"ORCH": orch}), cwd=tmp_path, timeout=30)


def test_extract_finds_sh_console_and_skipped_blocks() -> None:
    examples = extract(DOC, "sample.md")
    assert [e.line for e in examples] == [4, 9, 12, 18]
    assert examples[0].script.startswith("TENANT_ID=$(curl")
    assert examples[1].script.endswith('"Acme"}\'\n')  # the quoted body spans two lines
    assert examples[1].expected == '{"id": 1, "name": "Acme"}'
    assert examples[2].expected == "1"
    assert examples[3].skip == "needs the real engine"
    assert all(e.skip is None for e in examples[:3])


def test_a_console_command_goes_on_after_a_pipe() -> None:
    doc = "```console\n$ echo '{}' |\n  cat\n{}\n$ echo done\ndone\n```\n"
    first, second = extract(doc, "pipe.md")
    assert first.script == "echo '{}' |\n  cat\n" and first.expected == "{}"
    assert second.script == "echo done\n"


def test_a_marker_needs_a_reason_and_a_shell_block() -> None:
    with pytest.raises(DocsFormatError, match="needs a reason"):
        extract("<!-- docs-check: skip -->\n```sh\nmake run\n```\n", "a.md")
    with pytest.raises(DocsFormatError, match="'python' block"):
        extract("<!-- docs-check: skip: why -->\n```python\npass\n```\n", "a.md")
    with pytest.raises(DocsFormatError, match="before no block"):
        extract("<!-- docs-check: skip: why -->\nsome prose\n", "a.md")


def test_the_examples_run_in_sequence(orch: str, tmp_path: Path) -> None:
    shell = session(orch, tmp_path)
    outcomes = [shell.run(e) for e in extract(DOC, "sample.md") if not e.skip]
    assert [o.ok for o in outcomes] == [True, True, True], [o.report() for o in outcomes]
    assert shell.env["TENANT_ID"] == "1"


def test_a_curl_without_content_type_fails(orch: str, tmp_path: Path) -> None:
    broken = extract(
        """```sh\ncurl -s -X POST "$ORCH/tenants" -d '{"name": "Acme"}'\n```\n""", "bad.md"
    )
    outcome = session(orch, tmp_path).run(broken[0])
    assert not outcome.ok
    assert "exit status 22" in outcome.report()
    assert "invalid-input" in outcome.stdout  # the error body is shown


def test_a_reply_that_lost_a_key_fails(orch: str, tmp_path: Path) -> None:
    doc = """```console
$ curl -s -X POST "$ORCH/tenants" -H 'Content-Type: application/json' -d '{"name": "A"}'
{"id": 1, "name": "A", "sip_domain": "a.example"}
```
"""
    outcome = session(orch, tmp_path).run(extract(doc, "bad.md")[0])
    assert not outcome.ok
    assert "no key 'sip_domain'" in outcome.report()


def test_a_failing_step_in_a_block_fails_it(tmp_path: Path) -> None:
    outcome = session("http://127.0.0.1:9", tmp_path).run(
        extract("```sh\nfalse\necho never\n```\n", "bad.md")[0]
    )
    assert not outcome.ok and "never" not in outcome.stdout


def test_reply_shapes() -> None:
    assert (
        reply_errors('{"items": [{"id": 1}], "total": 1}', '{"items": [{"id": 2}], "total": 1}')
        == []
    )
    assert reply_errors('{"items": [{"id": 1}]}', '{"items": []}') == [
        "$.items: shown items, got an empty list"
    ]
    assert reply_errors('{"a": {"b": 1}}', '{"a": {"c": 1}}') == ["$.a: no key 'b' (got ['c'])"]
    assert reply_errors('{"changed": ["sip"]}', '{"changed": []}') == []
    assert reply_errors("id,uuid\n1,x", "id,uuid\n") == []
    assert reply_errors("id,uuid,x\n1,x", "id,uuid\n") != []
    assert reply_errors('{"a": 1}', "not json") != []
