"""A stand-in ``freeswitch`` executable for the instance tests: it reads the event socket
settings from ``-conf <dir>`` as FreeSWITCH does, answers ``auth``, ``api status``,
``api version``, ``api show channels count`` and stops on ``api fsctl shutdown``.
It records its arguments in ``<conf>/../args.json``."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from xml.etree import ElementTree


def main() -> None:
    args = sys.argv[1:]
    conf = Path(args[args.index("-conf") + 1])
    (conf.parent / "args.json").write_text(json.dumps(args))
    root = ElementTree.parse(conf / "autoload_configs" / "event_socket.conf.xml").getroot()
    params = {p.get("name"): p.get("value") for p in root.iter("param")}
    server = socket.create_server((params["listen-ip"] or "", int(params["listen-port"] or 0)))
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"Content-Type: auth/request\n\n")
            while line := reader.readline():
                command = line.decode().strip()
                if not command:
                    continue
                reader.readline()
                if command.startswith("auth "):
                    ok = command == f"auth {params['password']}"
                    reply = "+OK accepted" if ok else "-ERR invalid"
                    conn.sendall(f"Content-Type: command/reply\nReply-Text: {reply}\n\n".encode())
                    if not ok:
                        break
                    continue
                body = {
                    "api status": "UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12) is ready\n",
                    "api version": "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n",
                    "api show channels count": "\n0 total.\n",
                    "api fsctl shutdown": "+OK\n",
                }.get(command, "-ERR Command not found!\n")
                data = body.encode()
                head = f"Content-Type: api/response\nContent-Length: {len(data)}\n\n"
                conn.sendall(head.encode() + data)
                if command == "api fsctl shutdown":
                    return


if __name__ == "__main__":
    main()
