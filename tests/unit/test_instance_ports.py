"""An engine instance keeps the ports it was configured with.

``orchestrator run`` and ``orchestrator engine stop --instance NAME`` know only the
name: they must reach the engine configured with other ports (a test slot's, a
developer's), not whatever the preset of that name says.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.engines.asterisk.instance import PRESETS, AsteriskInstance, Ports

OWN = Ports(18538, 15488, 15510, 34500, 34999)


def instance(root: Path, ports: Ports | None = None) -> AsteriskInstance:
    return AsteriskInstance(
        root=root,
        name="run4",
        templates_dir=root / "templates",
        realtime_url_base="http://127.0.0.1:18420/engine/asterisk/realtime",
        ports=ports,
        use_system=False,
    )


def test_an_instance_named_only_finds_its_recorded_ports(tmp_path: Path) -> None:
    first = instance(tmp_path, OWN)
    first.dir.mkdir(parents=True)
    first.credentials_path.write_text(
        json.dumps({
            "ari_user": "orchestrator", "http_port": OWN.http, "ami_port": OWN.ami,
            "sip_port": OWN.sip, "rtp_start": OWN.rtp_start, "rtp_end": OWN.rtp_end,
        })
    )  # fmt: skip
    assert instance(tmp_path).ports == OWN


def test_without_a_record_the_preset_applies(tmp_path: Path) -> None:
    assert instance(tmp_path).ports == PRESETS["default"]
    # Credentials written before the RTP range was recorded: the preset, not a guess.
    first = instance(tmp_path)
    first.dir.mkdir(parents=True)
    first.credentials_path.write_text(json.dumps({"http_port": OWN.http}))
    assert instance(tmp_path).ports == PRESETS["default"]
    assert instance(tmp_path, OWN).ports == OWN
