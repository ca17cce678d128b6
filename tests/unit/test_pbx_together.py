"""Issue 14's parts together over the store, on the FakeEngine: an extension with a
personal mailbox is managed (its calls run the ``pbx_extension`` flow); a call it does
not answer is left as a voicemail message through the real depositor; the mailbox's
counts become the phone's message-waiting lamp through the MWI reconciler."""

from __future__ import annotations

from orchestrator.core.fake import FakeEngine
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.testing import run_flow
from orchestrator.pbx.extension_flow import ExtensionFlow
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.mwi import MwiReconciler
from orchestrator.pbx.settings import get_settings, update_settings
from orchestrator.pbx.voicemail.deposit import Depositor
from orchestrator.provisioning.data import load_tenant
from orchestrator.store import voicemail as store
from orchestrator.store.db import SessionFactory
from tests.unit.test_voicemail_flows import World


def managed(world: World) -> dict[str, bool]:
    with world.sessions() as s:
        config = load_tenant(s, world.tenant_id)
    assert config is not None
    return {u.number: u.managed for u in config.users}


async def test_a_mailbox_makes_the_extension_managed_and_takes_its_unanswered_call(
    db_sessions: SessionFactory,
) -> None:
    world = World(db_sessions)  # 101 has a mailbox, 102 none
    assert managed(world) == {"101": True, "102": False}
    with world.sessions() as s:
        assert get_settings(s, world.extension_id).managed
        assert not get_settings(s, world.bare_id).managed

    flow = ExtensionFlow(StoreLines(world.sessions), voicemail=Depositor(world.service))

    async def call_101(call: IvrCall) -> None:
        world.bind(call)
        await flow(call)

    result = await run_flow(
        call_101, tenant=str(world.tenant_id), called="101", caller="+15550100",
        dial_outcomes=["no_answer"],
    )  # fmt: skip
    assert result.dialed == ["extension:101"]
    [message] = world.messages()
    assert (message.caller_number, message.reason, message.folder) == (
        "+15550100", "unavailable", "new",
    )  # fmt: skip
    assert world.mwi.changes == [(world.tenant_id, world.box_id)]

    # The lamp: the reconciler over the store's counts pushes (1 new, 0 old) to 101's phone.
    engine = FakeEngine()
    await engine.start()

    async def desired(tenant_id: int | None) -> dict[str, tuple[int, int]]:
        with world.sessions() as s:
            return store.desired_lamps(s, tenant_id)

    reconciler = MwiReconciler(engine, desired)
    await reconciler.changed(world.tenant_id, world.box_id)
    assert engine.mwi == {"101@acme.example": (1, 0)}


async def test_dnd_to_voicemail_leaves_a_message_without_ringing(
    db_sessions: SessionFactory,
) -> None:
    world = World(db_sessions)
    with world.sessions() as s:
        update_settings(s, world.extension_id, dnd=True, dnd_mode="voicemail")
    flow = ExtensionFlow(StoreLines(world.sessions), voicemail=Depositor(world.service))

    async def call_101(call: IvrCall) -> None:
        world.bind(call)
        await flow(call)

    result = await run_flow(call_101, tenant=str(world.tenant_id), called="101")
    assert result.dialed == []
    [message] = world.messages()
    assert message.reason == "busy"
