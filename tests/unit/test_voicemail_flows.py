"""Voicemail on the FakeEngine: the deposit (greetings, beep, limits, too short, hang-up),
the owner's menu (PIN tries, listen/delete/save, greetings, PIN change), the shared
mailbox login, and what each change tells the MWI notifier and the event stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from orchestrator.core.fake import silent_wav
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.testing import HANGUP, SILENCE, FlowResult, run_flow
from orchestrator.pbx.dispatch import CodeContext, Handler, PhoneOwner
from orchestrator.pbx.voicemail.deposit import Depositor
from orchestrator.pbx.voicemail.flows import DEPOSIT_FLOW, flows
from orchestrator.pbx.voicemail.menu import OwnerHandlers
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import VoicemailStorage
from orchestrator.store import voicemail as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import (
    Extension,
    Mailbox,
    MailboxCreate,
    Tenant,
    VoicemailMessage,
)
from orchestrator.store.pins import verify_pin

PIN = "4711"


class Mwi:
    def __init__(self) -> None:
        self.changes: list[tuple[int, int]] = []

    async def changed(self, tenant_id: int, mailbox_id: int) -> None:
        self.changes.append((tenant_id, mailbox_id))


def Ctx(tenant_id: int, extension_id: int, number: str) -> CodeContext:
    return CodeContext(tenant_id=tenant_id, action="voicemail", argument="",
                       extension_id=extension_id, number=number, endpoint="")  # fmt: skip


class World:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self.mwi = Mwi()
        self.events: list[tuple[str, int, Mapping[str, Any], Mapping[str, Any]]] = []
        self.storage = VoicemailStorage(None, sessions, None)  # type: ignore[arg-type]
        self.service = VoicemailService(
            sessions, self.storage, mwi=self.mwi,
            events=lambda *event: self.events.append(event),
        )  # fmt: skip
        with sessions() as s:
            tenant = Tenant(name="Acme", sip_domain="acme.example")
            s.add(tenant)
            s.commit()
            assert tenant.id is not None
            self.tenant_id = tenant.id
            ext = Extension(tenant_id=tenant.id, number="101", sip_username="101",
                            sip_password="x" * 16)  # fmt: skip
            bare = Extension(tenant_id=tenant.id, number="102", sip_username="102",
                             sip_password="x" * 16)  # fmt: skip
            s.add(ext)
            s.add(bare)
            s.commit()
            assert ext.id is not None and bare.id is not None
            self.extension_id, self.bare_id = ext.id, bare.id
            box = store.create_mailbox(
                s,
                MailboxCreate(
                    tenant_id=tenant.id,
                    extension_id=ext.id,
                    number="101",
                    pin=PIN,
                    max_message_s=120,
                ),
                scope=None,
            )
            assert box.id is not None
            self.box_id = box.id

    def bind(self, call: IvrCall) -> None:
        # run_flow makes its own FakeEngine: the storage reads and deletes audio there.
        self.storage.engine = self.service.engine = call.engine

    def box(self) -> Mailbox:
        with self.sessions() as s:
            found = s.get(Mailbox, self.box_id)
            assert found is not None
            return found

    def messages(self) -> list[VoicemailMessage]:
        with self.sessions() as s:
            rows, _ = store.list_messages(s, self.box_id, scope=None)
            return list(rows)

    async def deposit(self, reason: str = "unavailable", **kw: Any) -> FlowResult:
        async def flow(call: IvrCall) -> None:
            self.bind(call)
            ok = await Depositor(self.service).deposit(
                call, self.tenant_id, self.extension_id, reason
            )
            assert ok

        kw.setdefault("recording_audio", silent_wav(3.0))
        return await run_flow(flow, caller="+15550100", **kw)

    async def owner(self, inputs: list[str], shared: bool = False, **kw: Any) -> FlowResult:
        handlers = OwnerHandlers(self.service)
        ctx = Ctx(self.tenant_id, self.extension_id, "101")

        async def flow(call: IvrCall) -> None:
            self.bind(call)
            if shared:
                await handlers.shared_voicemail(call, ctx)
            else:
                await handlers.voicemail(call, ctx)

        return await run_flow(flow, inputs=inputs, **kw)

    def seed(self, n: int, engine_audio: bool = False) -> list[str]:
        box = self.box()
        ids = []
        with self.sessions() as s:
            for i in range(n):
                row = store.add_message(s, box, recording=f"vm/seed{i}", duration_s=2.0,
                                        size_bytes=100, caller_number=f"+1555000{i}")  # fmt: skip
                ids.append(row.id)
        return ids


@pytest.fixture
def world(db_sessions: SessionFactory) -> World:
    return World(db_sessions)


async def test_a_deposit_plays_the_stock_greeting_beeps_and_stores_the_message(
    world: World,
) -> None:
    result = await world.deposit()
    assert result.played[:4] == [
        Prompt.VOICEMAIL_THE_PERSON_AT, "digits:101", Prompt.VOICEMAIL_IS_UNAVAILABLE,
        Prompt.VOICEMAIL_LEAVE_MESSAGE,
    ]  # fmt: skip
    assert result.answered and result.hung_up_by == "flow"
    engine = result.engine
    assert engine is not None
    [record] = [c for c in engine.commands if c[0] == "record"]
    _, _leg, name, _fmt, max_duration, max_silence, beep = record
    assert name.startswith("vm/") and (max_duration, max_silence, beep) == (120, 5.0, True)
    [message] = world.messages()
    assert message.recording == name and message.folder == "new"
    assert message.caller_number == "+15550100" and message.reason == "unavailable"
    assert message.duration_s == pytest.approx(3.0, abs=0.01)
    assert message.size_bytes == len(silent_wav(3.0))
    assert world.mwi.changes == [(world.tenant_id, world.box_id)]
    [(event, tenant, _call, details)] = world.events
    assert (event, tenant, details["message_id"]) == ("voicemail_deposited", world.tenant_id,
                                                      message.id)  # fmt: skip
    with world.sessions() as s:
        assert store.counts(s, world.box_id) == (1, 0)


async def test_the_busy_greeting_and_the_name_greeting(world: World) -> None:
    with world.sessions() as s:
        store.set_greeting(s, world.box_id, "busy", "vm/busygreeting")
        store.set_greeting(s, world.box_id, "name", "vm/myname")
    busy = await world.deposit("busy")
    assert busy.played[:2] == ["recording:vm/busygreeting", Prompt.VOICEMAIL_LEAVE_MESSAGE]
    unavailable = await world.deposit("unavailable")
    assert unavailable.played[:3] == [
        "recording:vm/myname",
        Prompt.VOICEMAIL_IS_UNAVAILABLE,
        Prompt.VOICEMAIL_LEAVE_MESSAGE,
    ]
    assert [m.reason for m in world.messages()] == ["busy", "unavailable"]


async def test_a_message_shorter_than_a_second_is_dropped(world: World) -> None:
    result = await world.deposit(recording_audio=silent_wav(0.4))
    assert world.messages() == [] and world.mwi.changes == [] and world.events == []
    assert result.engine is not None and result.engine.recordings == {}, "its file deleted too"


async def test_no_mailbox_means_false_and_nothing_played(world: World) -> None:
    async def flow(call: IvrCall) -> None:
        world.bind(call)
        assert not await Depositor(world.service).deposit(call, world.tenant_id,
                                                          world.bare_id, "busy")  # fmt: skip

    result = await run_flow(flow)
    assert result.played == [] and not result.answered


async def test_three_wrong_pins_end_the_call_without_the_menu(world: World) -> None:
    result = await world.owner(["1111#", "2222#", "3333#", "1"])
    assert result.played.count(Prompt.VOICEMAIL_PIN_INCORRECT) == 3
    assert Prompt.VOICEMAIL_YOU_HAVE not in result.played
    assert result.played[-1] == Prompt.GOODBYE and result.hung_up_by == "flow"
    # The PINs never reach an observer: one "*" per key.
    assert result.collected[:3] == ["****"] * 3
    assert "1111" not in repr(result.actions)


async def test_listen_delete_save_and_the_counts(world: World) -> None:
    first, second, third = world.seed(3)
    result = await world.owner([f"{PIN}#", "1", "7", "9", "#", "*"])
    assert result.played[:4] == [Prompt.VOICEMAIL_ENTER_PIN, Prompt.VOICEMAIL_YOU_HAVE,
                                 "number:3", Prompt.VOICEMAIL_NEW]  # fmt: skip
    heard = [m for m in result.played if m.startswith("recording:")]
    assert heard == ["recording:vm/seed0", "recording:vm/seed1", "recording:vm/seed2"]
    assert Prompt.VOICEMAIL_DELETED in result.played and Prompt.VOICEMAIL_SAVED in result.played
    left = {m.id: m.folder for m in world.messages()}
    assert left == {second: "old", third: "old"}, "deleted one gone, the heard ones old"
    assert first not in left
    # Each heard message (3) and the deletion (1) changed the counts.
    assert len(world.mwi.changes) == 4


async def test_replay_then_star_back(world: World) -> None:
    world.seed(1)
    result = await world.owner([f"{PIN}#", "1", "5", "*", "*"])
    heard = [m for m in result.played if m.startswith("recording:")]
    assert heard == ["recording:vm/seed0", "recording:vm/seed0"]
    assert Prompt.VOICEMAIL_NO_MORE not in result.played


async def test_change_pin_needs_the_same_pin_twice(world: World) -> None:
    await world.owner([f"{PIN}#", "4", "2468#", "2469#", "*"])
    assert verify_pin(PIN, world.box().pin_hash), "mismatch: unchanged"
    result = await world.owner([f"{PIN}#", "4", "2468#", "2468#", "*"])
    assert Prompt.VOICEMAIL_PIN_CHANGED in result.played
    assert verify_pin("2468", world.box().pin_hash)


async def test_record_the_unavailable_greeting(world: World) -> None:
    result = await world.owner([f"{PIN}#", "0", "1", "*"], recording_audio=silent_wav(2.0))
    [name] = result.recordings
    assert world.box().greeting_unavailable == name
    assert Prompt.VOICEMAIL_RECORD_UNAVAILABLE in result.played
    deposit = await world.deposit()
    assert deposit.played[0] == f"recording:{name}"


async def test_skip_pin_from_own_phone(world: World) -> None:
    with world.sessions() as s:
        box = s.get(Mailbox, world.box_id)
        assert box is not None
        box.skip_pin_from_own_phone = True
        s.add(box)
        s.commit()
    result = await world.owner(["*"])
    assert Prompt.VOICEMAIL_ENTER_PIN not in result.played
    assert Prompt.VOICEMAIL_YOU_HAVE in result.played


async def test_shared_login_hides_which_mailboxes_exist(world: World) -> None:
    result = await world.owner(["999#", f"{PIN}#", "101#", f"{PIN}#", "*"], shared=True)
    assert result.played.count(Prompt.VOICEMAIL_PIN_INCORRECT) == 1
    assert result.played.count(Prompt.VOICEMAIL_ENTER_PIN) == 2, "PIN asked for 999 too"
    assert Prompt.VOICEMAIL_YOU_HAVE in result.played


async def test_own_code_without_a_mailbox_apologises(world: World) -> None:
    handlers = OwnerHandlers(world.service)

    async def flow(call: IvrCall) -> None:
        world.bind(call)
        await handlers.voicemail(call, Ctx(world.tenant_id, world.bare_id, "102"))

    result = await run_flow(flow)
    assert result.played == [Prompt.SORRY, Prompt.GOODBYE]


async def test_caller_hanging_up_in_the_menu_ends_quietly(world: World) -> None:
    result = await world.owner([f"{PIN}#", HANGUP])
    assert result.hung_up_by == "caller"


async def test_silence_in_the_menu_ends_after_three_prompts(world: World) -> None:
    result = await world.owner([f"{PIN}#", SILENCE, SILENCE, SILENCE])
    assert result.played.count(Prompt.VOICEMAIL_MENU) == 3
    assert result.played[-1] == Prompt.GOODBYE


async def test_the_deposit_app_by_mailbox_number(world: World) -> None:
    deposit = flows(world.service)[DEPOSIT_FLOW]

    async def flow(call: IvrCall) -> None:
        world.bind(call)
        await deposit(call)

    await run_flow(flow, settings={"mailbox": "101"}, tenant=str(world.tenant_id),
                   recording_audio=silent_wav(2.0))  # fmt: skip
    assert len(world.messages()) == 1
    missing = await run_flow(flow, settings={"mailbox": "555"}, tenant=str(world.tenant_id))
    assert missing.played == [Prompt.SORRY, Prompt.TRY_AGAIN_LATER]


async def test_star_57_runs_the_own_mailbox_menu_through_the_feature_code_flow(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit import test_pbx_dispatch as dispatch

    endpoint = "101@acme.example"
    phones = {**dispatch.PHONES, (world.tenant_id, endpoint): PhoneOwner(world.extension_id, "101")}
    monkeypatch.setattr(dispatch, "PHONES", phones)
    board = dispatch.Switchboard(codes={world.tenant_id: dict(dispatch.DEFAULTS)})
    handlers = OwnerHandlers(world.service)

    def bound(handler: Handler) -> Handler:
        async def run(call: IvrCall, ctx: CodeContext) -> None:
            world.bind(call)
            await handler(call, ctx)

        return run

    board.handlers.update({k: bound(h) for k, h in handlers.handlers().items()})
    played = await board.dial("*57", endpoint=endpoint, tenant=str(world.tenant_id))
    # The phone's own mailbox: its PIN asked (nobody keys it: 3 tries), never "sorry".
    assert played.count(Prompt.VOICEMAIL_ENTER_PIN) == 3 and Prompt.SORRY not in played
    assert played[-1] == Prompt.GOODBYE
    shared = await board.dial("*56", endpoint=endpoint, tenant=str(world.tenant_id))
    assert shared.count(Prompt.VOICEMAIL_ENTER_MAILBOX) == 3
