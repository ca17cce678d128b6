"""Documents rendered at their first lookup: the same text as Jinja renders, every value
checked when the index is built, and change detection that flushes exactly the users
whose document changed."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import fields, replace
from pathlib import Path

import jinja2
import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.engines.freeswitch.provisioning.documents import Documents, direct_values
from orchestrator.engines.freeswitch.provisioning.render import Renderer, caller_id_parts
from orchestrator.provisioning.tenant import SipUser, TenantConfig
from tests.unit.freeswitch.kit_fixtures import TEMPLATES, Store, parse, provisioner, tenant

NAMES = ['"Ann & Bob\'s" <101>', '"Zoë <x>" <+4420>', "<0101>", '"a=&amp #34" <99>']


def jinja_directory(r: Renderer, t: TenantConfig, u: SipUser) -> str:
    """The user's document as Jinja renders the template (the reference)."""
    cid_name, cid_number = caller_id_parts(u)
    return r.directory_template.render(
        t=t,
        u=u,
        context=f"t{t.id}",
        cid_name=cid_name,
        cid_number=cid_number,
        ring_timeout=r.ring_timeout,
        cache_ms=r.cache_ms,
    )


@pytest.mark.parametrize("caller_id", NAMES)
def test_a_users_document_is_what_jinja_renders(caller_id: str) -> None:
    r = Renderer(TEMPLATES, ring_timeout=17, cache_ms=5_000)
    t = tenant(4, "a.example", ("101", "102"))
    t = replace(t, users=(replace(t.users[0], caller_id=caller_id), t.users[1]))
    if "<x>" in caller_id:  # not a caller ID name the checks let through
        with pytest.raises(ValidationError):
            r.render(t)
        return
    index = r.render(t)
    for u in t.users:
        assert index.directory[u.username] == jinja_directory(r, t, u)
    assert parse(index.directory["101"]).find(".//user").get("id") == "101"  # type: ignore[union-attr]


def test_a_template_that_tests_a_user_value_is_rendered_by_jinja(tmp_path: Path) -> None:
    (tmp_path / "tenant").mkdir()
    for name in ("dialplan.xml.j2", "gateways.xml.j2", "trunk_acl.xml.j2"):
        (tmp_path / "tenant" / name).write_text((TEMPLATES / "tenant" / name).read_text())
    (tmp_path / "tenant" / "directory.xml.j2").write_text(
        '<user id="{{ u.username }}" vip="{{ "yes" if u.number == "101" else "no" }}"'
        ' name="{{ cid_name | upper }}"/>'
    )
    r = Renderer(tmp_path)
    index = r.render(tenant(1, "a.example", ("101", "102")))
    assert index.directory["101"] == '<user id="101" vip="yes" name="USER 101 OF 1"/>'
    assert index.directory["102"] == '<user id="102" vip="no" name="USER 102 OF 1"/>'


def test_direct_values_reads_what_the_template_prints() -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({}), autoescape=True)

    def printed(text: str) -> tuple[str, ...] | None:
        env.loader = jinja2.DictLoader({"d": text})
        return direct_values(env, "d")

    assert printed("{{ t.domain }}{{ u.password }}-{{ cid_name }}") == ("password", "cid_name")
    assert printed("{% if u.managed %}x{% endif %}{{ u.number }}") is None
    assert printed("{{ u.number | e }}") is None
    assert printed("{% set n = u.number %}{{ n }}") is None
    assert printed("{{ u.nothing }}") is None
    assert printed("\x00{{ u.number }}") is None


def test_every_value_compared_is_one_the_document_shows() -> None:
    # Flushing exactly: a change to any value the comparison holds changes the document
    # (and values that are equal render equal documents, by construction).
    r = Renderer(TEMPLATES)
    t = tenant(1, "a.example", ("101",))
    index = r.render(t)
    base = index.directory_values()["101@a.example"]
    changes = {
        "password": "Zyxwvuts9876Zyxwvuts9876",
        "number": "555",
        "caller_id": '"Other" <101>',
    }
    for name, value in changes.items():
        other = replace(t, users=(replace(t.users[0], **{name: value}),))
        changed = r.render(other)
        assert changed.directory_values()["101@a.example"] != base, name
        assert changed.directory["101"] != index.directory["101"], name
    # What the document does not show is not compared (a redirect is a dialplan answer).
    shown = {"username", "password", "endpoint", "number", "caller_id"}
    for f in fields(SipUser):
        if f.name not in shown:
            value = "102" if f.type == "str" else True
            other = replace(t, users=(replace(t.users[0], **{f.name: value}),))
            assert r.render(other).directory_values()["101@a.example"] == base, f.name


def test_values_are_checked_when_the_index_is_built_not_when_looked_up() -> None:
    r = Renderer(TEMPLATES)
    t = tenant(1, "a.example", ("101", "102"))
    bad = replace(t, users=(t.users[0], replace(t.users[1], password="short${x}")))
    with pytest.raises(ValidationError):
        r.render(bad)  # the whole tenant: before any document is asked for
    index = r.render(t)
    assert isinstance(index.directory, Documents)
    assert index.directory.get("103") is None and "103" not in index.directory
    assert len(index.directory) == 2 and sorted(index.directory) == ["101", "102"]
    first = index.directory["101"]
    assert index.directory["101"] is first  # kept, not rendered again


def test_a_full_apply_leaves_the_garbage_collector_as_it_was() -> None:
    p = provisioner(Store(tenant(1, "a.example")))
    assert gc.isenabled()
    asyncio.run(p.apply_all(reload=False))
    assert gc.isenabled() and sorted(p.tenants) == [1]
    gc.disable()
    try:
        asyncio.run(p.apply_all(reload=False))
        assert not gc.isenabled()
    finally:
        gc.enable()
