"""The example flows in ivr_apps/, run with the flow harness (no switch)."""

from __future__ import annotations

from pathlib import Path

from ivr_apps import parcel_tracking, visa_status
from orchestrator.ivr.testing import HANGUP, SILENCE, run_flow


async def test_visa_approved_is_said_and_recorded() -> None:
    result = await run_flow(visa_status.flow, inputs=["20241234", SILENCE])
    assert result.answered
    assert result.collected[0] == "20241234"
    assert result.said == "20241234"
    assert visa_status.PROMPTS["approved"] in result.played
    assert result.variables == {"visa_registration": "20241234", "visa_status": "approved"}
    assert result.hung_up_by == "flow"
    assert result.played[-1] == visa_status.PROMPTS["goodbye"]


async def test_visa_wrong_length_retries_then_finds_pending() -> None:
    result = await run_flow(visa_status.flow, inputs=["123#", "20245678", SILENCE])
    assert result.collected[:2] == ["123", "20245678"]
    assert visa_status.PROMPTS["invalid"] in result.played
    assert visa_status.PROMPTS["pending"] in result.played


async def test_visa_unknown_number_and_repeat() -> None:
    result = await run_flow(visa_status.flow, inputs=["11112222", "1", SILENCE])
    assert result.variables["visa_status"] == "not_found"
    assert result.played.count("digits:11112222") == 2  # said again after "1"


async def test_visa_agent_transfer_only_when_configured() -> None:
    result = await run_flow(visa_status.flow, inputs=["20249999", "0"], settings={"agent": "102"})
    assert visa_status.PROMPTS["rejected"] in result.played
    assert result.transferred_to == "102"
    assert result.hung_up_by is None
    without = await run_flow(visa_status.flow, inputs=["20249999", "0"])
    assert without.transferred_to is None


async def test_visa_database_from_settings(tmp_path: Path) -> None:
    db = tmp_path / "visa.csv"
    db.write_text("registration,status\n87654321,approved\n")
    result = await run_flow(visa_status.flow, inputs=["87654321"], settings={"database": db})
    assert result.variables["visa_status"] == "approved"


async def test_visa_caller_hangs_up_mid_entry() -> None:
    result = await run_flow(visa_status.flow, inputs=[HANGUP])
    assert result.hung_up_by == "caller"
    assert result.variables == {}


async def test_visa_silence_says_goodbye() -> None:
    result = await run_flow(visa_status.flow, inputs=[SILENCE, SILENCE, SILENCE])
    assert result.collected == ["", "", ""]
    assert result.played[-1] == visa_status.PROMPTS["goodbye"]


async def test_parcel_tracking_status_and_day() -> None:
    result = await run_flow(parcel_tracking.flow, inputs=["1", "1234567890", SILENCE])
    assert parcel_tracking.PROMPTS["in_transit"] in result.played
    assert "number:24" in result.played
    assert result.variables["parcel"] == "1234567890"


async def test_parcel_tracking_operator() -> None:
    result = await run_flow(parcel_tracking.flow, inputs=["0"], settings={"operator": "105"})
    assert result.transferred_to == "105"


async def test_parcel_tracking_unknown_parcel() -> None:
    result = await run_flow(parcel_tracking.flow, inputs=["1", "9999999999", SILENCE])
    assert parcel_tracking.PROMPTS["unknown"] in result.played
    assert "digits:9999999999" in result.played
