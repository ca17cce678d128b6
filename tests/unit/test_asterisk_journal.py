"""The Asterisk journal (CEL lines cel_custom writes): parsing, reading back, pruning.

The lines are as Asterisk 22.10 wrote them for an answered phone-to-phone call.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from orchestrator.core import LegRecord
from orchestrator.core.events import ChannelEnded
from orchestrator.engines.asterisk import journal
from orchestrator.engines.asterisk.adapter import AsteriskEngine

RECORDED = [
    '{"eventtype":"ANSWER","eventtime":"1796566206.182194","uniqueid":"test8-1796566206.7","eventextra":""}',
    '{"eventtype":"ANSWER","eventtime":"1796566206.182584","uniqueid":"test8-1796566206.6","eventextra":""}',
    '{"eventtype":"HANGUP","eventtime":"1796566209.189556","uniqueid":"test8-1796566206.7","eventextra":"{\\"hangupcause\\":16,\\"hangupsource\\":\\"PJSIP/501@cdr.example-00000000\\",\\"dialstatus\\":\\"\\"}"}',
    '{"eventtype":"HANGUP","eventtime":"1796566209.189675","uniqueid":"test8-1796566206.6","eventextra":"{\\"hangupcause\\":17,\\"hangupsource\\":\\"PJSIP/501@cdr.example-00000000\\",\\"dialstatus\\":\\"ANSWER\\"}"}',
]
A, B = "test8-1796566206.6", "test8-1796566206.7"


def test_parse_recorded_lines() -> None:
    assert journal.parse_line(RECORDED[0]) == ("ANSWER", B, 1796566206.182194, None)
    assert journal.parse_line(RECORDED[3]) == ("HANGUP", A, 1796566209.189675, 17)


@pytest.mark.parametrize(
    "line",
    [
        "",
        RECORDED[2][:40],  # torn: Asterisk is writing it right now
        '{"eventtype":"CHAN_START","eventtime":"1.0","uniqueid":"x","eventextra":""}',
        '{"eventtype":"HANGUP","eventtime":"soon","uniqueid":"x","eventextra":""}',
        '{"eventtype":"HANGUP","eventtime":"1.0","uniqueid":"","eventextra":""}',
        "[1, 2]",
    ],
)
def test_lines_that_are_not_records(line: str) -> None:
    assert journal.parse_line(line) is None


def test_hangup_without_a_cause() -> None:
    line = (
        '{"eventtype":"HANGUP","eventtime":"5.5","uniqueid":"x",'
        '"eventextra":"{\\"hangupcause\\":true}"}'
    )
    assert journal.parse_line(line) == ("HANGUP", "x", 5.5, None)


def test_records_of_the_legs_asked_for() -> None:
    found = journal.records(RECORDED, [A, "unknown"])
    assert found == {A: LegRecord(A, 1796566206.182584, 1796566209.189675, 17)}


def test_first_answer_and_end_win() -> None:
    again = RECORDED[3].replace("209.189675", "299.0").replace(":17", ":16")
    found = journal.records([*RECORDED, again], [A])
    assert found[A].ended_at == 1796566209.189675 and found[A].cause == 17


def write(path: Path, lines: list[str], mtime: float | None = None) -> None:
    path.write_text("".join(line + "\n" for line in lines))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_read_spans_rotated_files(tmp_path: Path) -> None:
    write(tmp_path / "cel-000000000000001.json", RECORDED[:2])
    write(tmp_path / journal.CURRENT, RECORDED[2:])
    found = journal.read(tmp_path, [A, B])
    assert found[A] == LegRecord(A, 1796566206.182584, 1796566209.189675, 17)
    assert found[B] == LegRecord(B, 1796566206.182194, 1796566209.189556, 16)
    assert journal.read(tmp_path / "missing", [A]) == {}


def test_prune_rotates_and_deletes_only_old_files(tmp_path: Path) -> None:
    now = time.time()
    write(tmp_path / "cel-000000000000001.json", RECORDED[:1], mtime=now - 3600)
    write(tmp_path / "cel-000000000000002.json", RECORDED[1:2], mtime=now - 60)
    write(tmp_path / journal.CURRENT, RECORDED[2:])
    assert journal.prune(tmp_path, before=now - 900) == 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and journal.CURRENT not in names
    assert "cel-000000000000002.json" in names
    # What was kept still reads back: B's answer went with the old file, A is whole.
    found = journal.read(tmp_path, [A, B])
    assert found[A] == LegRecord(A, 1796566206.182584, 1796566209.189675, 17)
    assert found[B] == LegRecord(B, None, 1796566209.189556, 16)
    # The next line Asterisk writes starts a new current file, read with the rest.
    write(tmp_path / journal.CURRENT, RECORDED[:1])
    assert journal.read(tmp_path, [B])[B].answered_at == 1796566206.182194


async def test_adapter_reads_its_instance_journal(tmp_path: Path) -> None:
    write(tmp_path / journal.CURRENT, RECORDED)
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:9/ari", ari_user="u", ari_password="p" * 16,
        ami_user="u", ami_password="p" * 16, journal_dir=tmp_path,
    )  # fmt: skip
    assert (await engine.journal([A]))[A].cause == 17
    await engine.prune_journal(time.time() + 10)
    assert list(tmp_path.iterdir()) == []  # rotated, then old enough to go
    without = AsteriskEngine(
        ari_url="http://127.0.0.1:9/ari", ari_user="u", ari_password="p" * 16,
        ami_user="u", ami_password="p" * 16,
    )  # fmt: skip
    assert await without.journal([A]) == {}


def test_fill_gap_gives_channels_gone_while_disconnected_their_journal_times() -> None:
    """After an ARI link gap the reconciliation's ChannelEnded would say "now, normal"."""
    gone = [
        ChannelEnded(channel_id=A, call_id=A, cause_text="gone while disconnected"),
        ChannelEnded(channel_id=B, call_id=A, cause_text="gone while disconnected"),
        ChannelEnded(channel_id="unjournaled", call_id=A),
    ]
    found = journal.records(RECORDED, [A, B])
    # A was still ringing when the link dropped: it was answered in the gap, then ended.
    out = journal.fill_gap(gone, found, {A: "ringing", B: "up", "unjournaled": "up"})
    assert [(type(e).__name__, e.channel_id, e.timestamp) for e in out] == [
        ("ChannelStateChanged", A, 1796566206.182584),
        ("ChannelEnded", A, 1796566209.189675),
        ("ChannelEnded", B, 1796566209.189556),
        ("ChannelEnded", "unjournaled", gone[2].timestamp),
    ]
    assert [e.cause for e in out if isinstance(e, ChannelEnded)] == [17, 16, 16]
