"""``AsteriskEngine.conferences`` against the real Asterisk: who hears whom (mute, deaf,
hold), what is left in the engine, and the start-up sweep of conference bridges.

The parties are those of tests/engine/test_adapter_supervise.py (its context, app and
prefix): each leg's far half says a tone and records what the leg hears, so the files
tell who heard whom.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from orchestrator.core.events import ConferenceEnded, ConferenceMemberJoined
from orchestrator.engines.asterisk.conferences import BRIDGE_MARK
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.engine.test_adapter import Factory
from tests.engine.test_adapter_supervise import (  # noqa: F401  (fixtures)
    HEARD,
    PEER_HZ,
    PREFIX,
    QUIET,
    SUPERVISOR_HZ,
    TARGET_HZ,
    folder,
    hang_up,
    make_engine,
    party,
)

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]


async def test_mute_deaf_and_hold_are_heard_as_they_should(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    engine, rec = await make_engine()
    conf = f"t-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    talker = await party(engine, rec, folder, TARGET_HZ)
    muted = await party(engine, rec, folder, PEER_HZ)
    deaf = await party(engine, rec, folder, SUPERVISOR_HZ)
    held = await party(engine, rec, folder, 1300)
    await engine.conferences.join(conf, talker.id)
    await engine.conferences.join(conf, muted.id, muted=True)
    await engine.conferences.join(conf, deaf.id, deaf=True)
    # Never heard by anyone: muted at once, then held (music, out of the conference).
    await engine.conferences.join(conf, held.id, muted=True)
    await engine.conferences.hold(held.id)
    bridge_id = f"{PREFIX}{BRIDGE_MARK}{conf}"
    [bridge] = [b for b in await engine.ari.list_bridges() if b["id"] == bridge_id]
    assert set(bridge["channels"]) == {talker.id, muted.id, deaf.id}
    assert bridge_id not in engine.bridges
    await asyncio.sleep(2.5)
    await engine.conferences.end(conf)
    await rec.wait_for(lambda e: isinstance(e, ConferenceEnded))
    async with asyncio.timeout(5):  # Asterisk destroys it in its own time
        while bridge_id in {b["id"] for b in await engine.ari.list_bridges()}:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await hang_up(engine, rec, talker, muted, deaf, held)
    await asyncio.sleep(0.5)  # MixMonitor closes its files
    talker_heard, muted_heard, deaf_heard = talker.heard(), muted.heard(), deaf.heard()
    print("levels heard:", talker_heard, muted_heard, deaf_heard)
    # The talker hears the deaf member, not the muted one.
    assert talker_heard[SUPERVISOR_HZ] > HEARD and talker_heard[PEER_HZ] < QUIET
    # The muted member hears the others.
    assert muted_heard[TARGET_HZ] > HEARD and muted_heard[SUPERVISOR_HZ] > HEARD
    # The deaf member hears nobody.
    assert max(deaf_heard.values()) < QUIET, deaf_heard
    # The held member hears none of them (its music is not checked: in this harness even
    # Engine.hold(leg, "default") of a lone leg records silence on the far half).
    held_heard = held.heard()
    assert max(held_heard.values()) < QUIET, held_heard


async def test_the_sweep_keeps_a_conference_of_kept_legs_only(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    first, rec = await make_engine()
    kept_conf, gone_conf = f"k-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    legs = []
    for conf in (kept_conf, gone_conf):
        await first.conferences.create(conf)
    for conf in (kept_conf, kept_conf, gone_conf):
        say = f"say-{TARGET_HZ}-{uuid.uuid4().hex[:12]}"
        leg = await first.originate(DialplanPlace("zz-adaptersupervise", say))
        await rec.wait_for(lambda e, i=leg.id: getattr(e, "leg_id", None) == i)
        await first.conferences.join(conf, leg.id)
        legs.append(leg.id)
    await first.conferences.create(f"e-{uuid.uuid4().hex[:8]}")  # an empty one
    await first.stop()  # a crash: the legs stay in their conferences
    await asyncio.sleep(1.0)

    kept = {legs[0], legs[1]} | {f"{leg};2" for leg in legs[:2]}
    second, rec2 = await make_engine(kept_legs=kept)
    ours = {
        b["id"]: set(b["channels"])
        for b in await second.ari.list_bridges()
        if str(b["id"]).startswith(PREFIX + BRIDGE_MARK)
    }
    assert ours == {f"{PREFIX}{BRIDGE_MARK}{kept_conf}": {legs[0], legs[1]}}
    await second.conferences.create(kept_conf)
    for leg_id in legs[:2]:
        await rec2.wait_for(
            lambda e, i=leg_id: isinstance(e, ConferenceMemberJoined) and e.leg_id == i
        )
    await second.conferences.end(kept_conf)
    await rec2.wait_for(lambda e: isinstance(e, ConferenceEnded))
