"""An extension's call settings: forwarding, do not disturb, call waiting, follow-me.

One set of service functions serves the REST API (``/api/v1/extensions/{id}/call-settings``),
the phones' feature codes (``*72``...) and, later, self-care::

    current = get_settings(session, extension_id)              # defaults if never set
    change = update_settings(session, extension_id, forward_busy="102", dnd=True)
    change.settings.forward_busy                               # "extension:102"
    change.flipped                                             # managed changed: re-apply

Everything a user types is checked before it is stored, and stored only in its checked
form, so nothing typed reaches dialplan or SIP syntax: a destination is
``extension:<n>`` (an extension of the same tenant, not the extension itself),
``number:<+digits>`` (a number one of the tenant's outbound routes takes) or
``voicemail``; plain digits become whichever of the first two exists. A refused change
raises :class:`~orchestrator.core.errors.ValidationError` and changes nothing.

An extension is *managed* (its calls run through the orchestrator's ``pbx_extension``
flow instead of ringing the phone straight from the dialplan) while any setting needs
it: see :func:`~orchestrator.store.models.call_settings.is_managed`. When that flips, the
tenant's engine configuration must be applied again: :class:`CallSettingsService` (the
calls' and feature codes' entry) does it through its ``reapply`` hook, the REST route
through the API's config state. Both publish a ``call_settings_changed`` event.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.pbx.follow_me import MAX_STEPS, parse_steps
from orchestrator.store._common import bump_config, commit
from orchestrator.store.models import CallSettings, CallSettingsPublic, Extension, utcnow
from orchestrator.store.models.call_settings import MailboxOwners, is_managed, managed_owners

log = logging.getLogger("orchestrator.pbx")

__all__ = [
    "FORWARDS",
    "CallSettingsService",
    "SettingsChange",
    "get_settings",
    "normalize_destination",
    "public",
    "update_settings",
]

FORWARDS = ("forward_all", "forward_busy", "forward_no_answer", "forward_unreachable")
DND_MODES = ("busy", "voicemail")
FIELDS = (
    "dnd",
    "dnd_mode",
    "call_waiting",
    *FORWARDS,
    "no_answer_ring_s",
    "follow_me_enabled",
    "follow_me",
)
_BOOLS = ("dnd", "call_waiting", "follow_me_enabled")
_EXTENSION = re.compile(r"[0-9]{2,10}")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
RING_S = (5, 120)


# -- destinations ---------------------------------------------------------------------
def normalize_destination(
    session: Session, extension: Extension, value: Any, *, field: str, voicemail: bool = True
) -> str:
    """The stored form of a destination ``value`` for ``extension``; ValidationError if not
    one (see the module doc). ``voicemail=False``: a follow-me step cannot be voicemail."""
    if not isinstance(value, str) or not value.isascii() or len(value) > 32:
        raise _bad(field, value)
    if value == "voicemail" and voicemail:
        return value
    kind, sep, target = value.partition(":")
    if not sep:
        kind, target = "", kind
    if kind in ("", "extension") and _EXTENSION.fullmatch(target):
        other = _extension_by_number(session, extension.tenant_id, target)
        if other is not None:
            if other.id == extension.id:
                raise ValidationError(
                    f"{field}: an extension cannot forward to itself", field=field
                )
            return f"extension:{target}"
        if kind == "extension":
            raise ValidationError(f"{field}: no extension {target} in this tenant", field=field)
    if kind in ("", "number") and _NUMBER.fullmatch(target):
        from orchestrator.store.routes import resolve_outbound

        try:
            resolve_outbound(session, extension.tenant_id, target)
        except (NotFoundError, ValidationError):
            raise ValidationError(
                f"{field}: {target} is neither an extension of this tenant nor a number one "
                "of its outbound routes takes",
                field=field,
            ) from None
        return f"number:{target}"
    raise _bad(field, value)


def _bad(field: str, value: Any) -> ValidationError:
    return ValidationError(
        f"{field}: 'extension:102', 'number:+442079460000', 'voicemail' or digits",
        field=field,
        value=repr(value)[:60],
    )


def _extension_by_number(session: Session, tenant_id: int, number: str) -> Extension | None:
    stmt = select(Extension).where(Extension.tenant_id == tenant_id, Extension.number == number)
    return session.exec(stmt).first()


def _follow_me(session: Session, extension: Extension, value: Any) -> dict[str, Any] | None:
    """H5's follow-me document, checked and normalized (destinations in stored form)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"mode", "steps"}:
        raise ValidationError("follow_me: {'mode': ..., 'steps': [...]}", field="follow_me")
    mode = value.get("mode", "sequential")
    if mode not in ("sequential", "simultaneous"):
        raise ValidationError(
            "follow_me.mode: 'sequential' or 'simultaneous'", field="follow_me.mode"
        )
    steps = value.get("steps", [])
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        raise ValidationError(
            f"follow_me.steps: a list of at most {MAX_STEPS}", field="follow_me.steps"
        )
    out = []
    for i, step in enumerate(steps):
        where = f"follow_me.steps[{i}]"
        if not isinstance(step, Mapping) or set(step) - {"destination", "ring_s", "confirm"}:
            raise ValidationError(f"{where}: {{destination, ring_s, confirm}}", field=where)
        destination = normalize_destination(
            session, extension, step.get("destination"), field=f"{where}.destination",
            voicemail=False,
        )  # fmt: skip
        ring_s = _ring_s(step.get("ring_s", 20), f"{where}.ring_s")
        confirm = step.get("confirm", destination.startswith("number:"))
        if not isinstance(confirm, bool):
            raise ValidationError(f"{where}.confirm: true or false", field=f"{where}.confirm")
        out.append({"destination": destination, "ring_s": ring_s, "confirm": confirm})
    # What the flow will ring checks it again (follow_me.parse_steps): one set of rules,
    # so a list saved here is never skipped at call time (a destination listed twice).
    try:
        parse_steps(out)
    except ValidationError as exc:
        where = f"follow_me.{exc.details.get('field', 'steps')}"
        raise ValidationError(f"{where}: {exc}", field=where) from None
    return {"mode": mode, "steps": out}


def _ring_s(value: Any, field: str) -> int:
    low, high = RING_S
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field}: {low} to {high} seconds", field=field, value=repr(value))
    return value


def _checked(session: Session, extension: Extension, name: str, value: Any) -> Any:
    if name not in FIELDS:
        raise ValidationError(f"{name}: no such call setting", field=name, known=list(FIELDS))
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ValidationError(f"{name}: true or false", field=name)
        return value
    if name == "dnd_mode":
        if value not in DND_MODES:
            raise ValidationError("dnd_mode: 'busy' or 'voicemail'", field=name)
        return value
    if name == "no_answer_ring_s":
        return _ring_s(value, name)
    if name == "follow_me":
        return _follow_me(session, extension, value)
    return None if value is None else normalize_destination(session, extension, value, field=name)


# -- reading and changing -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SettingsChange:
    """What :func:`update_settings` did: the settings now and whether ``managed`` flipped."""

    tenant_id: int
    extension_id: int
    settings: CallSettingsPublic
    was_managed: bool
    changed: tuple[str, ...] = ()

    @property
    def flipped(self) -> bool:
        return self.was_managed != self.settings.managed

    def event(self) -> dict[str, Any]:
        """The ``call_settings_changed`` event's details."""
        return {"changed": list(self.changed), **self.settings.model_dump(mode="json")}


def _extension(session: Session, extension_id: int, scope: int | None) -> Extension:
    extension = session.get(Extension, extension_id)
    if extension is None or (scope is not None and extension.tenant_id != scope):
        raise NotFoundError(f"extension {extension_id} not found", extension_id=extension_id)
    return extension


def _row(session: Session, extension: Extension) -> CallSettings:
    stmt = select(CallSettings).where(CallSettings.extension_id == extension.id)
    row = session.exec(stmt).first()
    if row is None:  # the defaults, not stored until something changes
        assert extension.id is not None
        row = CallSettings(tenant_id=extension.tenant_id, extension_id=extension.id)
    return row


def public(
    session: Session,
    row: CallSettings,
    extension: Extension,
    mailboxes: MailboxOwners = managed_owners,
) -> CallSettingsPublic:
    values = {name: getattr(row, name) for name in FIELDS}
    has_mailbox = extension.id in mailboxes(session, extension.tenant_id)
    return CallSettingsPublic(
        **values,
        extension_id=row.extension_id,
        tenant_id=row.tenant_id,
        extension=extension.number,
        managed=is_managed(row, has_mailbox),
    )


def get_settings(
    session: Session,
    extension_id: int,
    *,
    scope: int | None = None,
    mailboxes: MailboxOwners = managed_owners,
) -> CallSettingsPublic:
    """The extension's settings (the defaults if never changed); NotFoundError outside
    ``scope`` (a tenant admin's tenant)."""
    extension = _extension(session, extension_id, scope)
    return public(session, _row(session, extension), extension, mailboxes)


def update_settings(
    session: Session,
    extension_id: int,
    *,
    scope: int | None = None,
    replace: bool = False,
    mailboxes: MailboxOwners = managed_owners,
    **changes: Any,
) -> SettingsChange:
    """Change some settings (``replace``: all of them, the others back to defaults).

    Every value is checked first; one bad value changes nothing. The tenant's config
    version is bumped when ``managed`` flips (its dialplan must change).
    """
    extension = _extension(session, extension_id, scope)
    row = _row(session, extension)
    has_mailbox = extension.id in mailboxes(session, extension.tenant_id)
    was_managed = is_managed(row, has_mailbox)
    if replace:
        defaults = CallSettings(tenant_id=extension.tenant_id, extension_id=row.extension_id)
        changes = {**{n: getattr(defaults, n) for n in FIELDS}, **changes}
    checked = {name: _checked(session, extension, name, value) for name, value in changes.items()}
    changed = tuple(n for n, v in checked.items() if getattr(row, n) != v)
    for name, value in checked.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    if is_managed(row, has_mailbox) != was_managed:
        bump_config(session, extension.tenant_id)
    commit(session, row, what="call settings")
    return SettingsChange(
        extension.tenant_id, row.extension_id, public(session, row, extension, mailboxes),
        was_managed, changed,
    )  # fmt: skip


# -- the service for calls and feature codes --------------------------------------------
Listener = Callable[[SettingsChange], Awaitable[None] | None]


@dataclass(slots=True)
class CallSettingsService:
    """The settings for the call flows and feature codes, with the change hooks.

    ``reapply(tenant_id)``: apply the tenant's engine configuration again (when ``managed``
    flipped); ``listeners``: told of every change (the ``call_settings_changed`` event).
    """

    sessions: Callable[[], Session]
    mailboxes: MailboxOwners = managed_owners
    reapply: Callable[[int], Awaitable[Any]] | None = None
    listeners: list[Listener] = field(default_factory=list)

    async def get(self, extension_id: int) -> CallSettingsPublic:
        def read() -> CallSettingsPublic:
            with self.sessions() as session:
                return get_settings(session, extension_id, mailboxes=self.mailboxes)

        return await asyncio.to_thread(read)

    async def update(self, extension_id: int, **changes: Any) -> SettingsChange:
        def write() -> SettingsChange:
            with self.sessions() as session:
                return update_settings(session, extension_id, mailboxes=self.mailboxes, **changes)

        change = await asyncio.to_thread(write)
        await self.changed(change, reapply=True)
        return change

    async def changed(self, change: SettingsChange, *, reapply: bool) -> None:
        """After a committed change: re-apply (``reapply`` and managed flipped), then tell
        the listeners. Their failures are logged: the change itself stands."""
        if reapply and change.flipped and self.reapply is not None:
            try:
                await self.reapply(change.tenant_id)
            except Exception:
                log.exception("re-applying tenant %s after call settings failed", change.tenant_id)
        for listener in list(self.listeners):
            try:
                result = listener(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("call settings listener %r failed", listener)
