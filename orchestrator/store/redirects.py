"""A standing redirect per extension (agent busy/away): its calls go elsewhere.

An extension's ``redirect_to`` is stored as ``extension:<number>`` (another extension
of the same tenant) or ``number:<digits>`` (an external number that one of the
tenant's outbound routes matches), with a short ``redirect_reason``. Whatever dials
the extension follows it: its phones and DIDs through the tenant's dialplan (see
:mod:`orchestrator.provisioning.data`), IVR flows and CTI through the directory
(:class:`orchestrator.ivr.store_backed.StoreDirectory`)::

    set_redirect(session=s, tenant_id=1, extension_id=7, to="102", reason="away")
    clear_redirect(session=s, tenant_id=1, extension_id=7)

Loops between extensions are refused when a redirect is set; a redirect whose target
has gone (extension deleted or disabled, route removed) is ignored where calls are
routed, so the extension rings itself again.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import bump_config, commit
from orchestrator.store.models import Extension, utcnow

__all__ = [
    "MAX_HOPS",
    "check_not_redirect_target",
    "clear_redirect",
    "parse_redirect",
    "redirect_reason",
    "set_redirect",
]

# The longest chain of extension redirects followed (101 -> 102 -> ... ).
MAX_HOPS = 8
# Letters, digits, space, '-' and '_': the reason is shown in the dialplan (NoOp) too.
_REASON = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9 _-]{0,39})?")
# What the directory can dial (orchestrator.ivr.directory) and fits the column.
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def redirect_reason(value: Any, *, field: str = "reason") -> str:
    """``busy``, ``away``, ``dnd`` or a short text: up to 40 of letters, digits, `` _-``."""
    text = "" if value is None else value
    if not isinstance(text, str) or not text.isascii() or not _REASON.fullmatch(text.strip()):
        raise ValidationError(
            f"{field}: up to 40 letters, digits, spaces, '-' or '_', starting with a letter "
            "or digit",
            field=field,
            value=repr(value)[:60],
        )
    return text.strip()


def parse_redirect(value: Any, *, field: str = "to") -> tuple[str, str]:
    """``("extension", "102")`` or ``("number", "0044...")`` from ``102``,
    ``extension:102``, ``number:0044...`` or a bare number; ValidationError otherwise.

    A bare value is returned as ``("", value)`` when it could be either: the caller
    decides (an existing extension wins).
    """
    if not isinstance(value, str) or not value.isascii():
        raise ValidationError(f"{field}: an extension or a number", field=field)
    kind, sep, target = value.partition(":")
    if not sep:
        kind, target = "", kind
    if kind in ("", "extension") and re.fullmatch(r"[0-9]{2,10}", target):
        return kind, target
    if kind in ("", "number") and _NUMBER.fullmatch(target):
        return "number", target
    raise ValidationError(
        f"{field}: '102', 'extension:102', 'number:0044207946000' or a number of 3 to 20 "
        "digits (optionally with a leading '+')",
        field=field,
        value=repr(value)[:60],
    )


def _extension(session: Session, tenant_id: int, number: str) -> Extension | None:
    stmt = select(Extension).where(Extension.tenant_id == tenant_id, Extension.number == number)
    return session.exec(stmt).first()


def _target(session: Session, extension: Extension, to: str) -> str:
    """The stored form of ``to`` for ``extension``, after every check."""
    kind, target = parse_redirect(to)
    if kind in ("", "extension"):
        other = _extension(session, extension.tenant_id, target)
        if other is not None:
            if other.id == extension.id:
                raise ValidationError("to: an extension cannot redirect to itself", field="to")
            _check_no_loop(session, extension, other)
            return f"extension:{target}"
        if kind == "extension":
            raise ValidationError(f"to: no extension {target} in this tenant", field="to")
    from orchestrator.store.routes import resolve_outbound

    try:
        resolve_outbound(session, extension.tenant_id, target)
    except (NotFoundError, ValidationError):
        raise ValidationError(
            f"to: {target} is neither an extension of this tenant nor a number one of its "
            "outbound routes matches",
            field="to",
        ) from None
    return f"number:{target}"


def _check_no_loop(session: Session, extension: Extension, first: Extension) -> None:
    chain = [extension.number, first.number]
    current: Extension | None = first
    while current is not None and (current.redirect_to or "").startswith("extension:"):
        number = (current.redirect_to or "").partition(":")[2]
        chain.append(number)
        if number == extension.number:
            raise ConflictError(f"to: redirect loop {' -> '.join(chain)}", field="to", chain=chain)
        if len(chain) > MAX_HOPS:
            raise ValidationError(
                f"to: more than {MAX_HOPS} redirects in a row ({' -> '.join(chain)})",
                field="to",
                chain=chain,
            )
        current = _extension(session, extension.tenant_id, number)


def _get(session: Session, tenant_id: int, extension_id: int) -> Extension:
    extension = session.get(Extension, extension_id)
    if extension is None or extension.tenant_id != tenant_id:
        raise NotFoundError(f"extension {extension_id} not found", extension_id=extension_id)
    return extension


def set_redirect(
    *, session: Session, tenant_id: int, extension_id: int, to: str, reason: str = ""
) -> Extension:
    """Send the extension's calls to ``to`` from now on (until :func:`clear_redirect`)."""
    extension = _get(session, tenant_id, extension_id)
    extension.redirect_reason = redirect_reason(reason)
    extension.redirect_to = _target(session, extension, to)
    extension.updated_at = utcnow()
    session.add(extension)
    bump_config(session, tenant_id)
    commit(session, extension, what="extension")
    return extension


def clear_redirect(*, session: Session, tenant_id: int, extension_id: int) -> Extension:
    """The extension's calls ring its own phone again."""
    extension = _get(session, tenant_id, extension_id)
    extension.redirect_to, extension.redirect_reason = None, ""
    extension.updated_at = utcnow()
    session.add(extension)
    bump_config(session, tenant_id)
    commit(session, extension, what="extension")
    return extension


def check_not_redirect_target(session: Session, extension: Extension, doing: str) -> None:
    """Refuse to delete or renumber an extension other extensions redirect to."""
    stmt = select(Extension.number).where(
        Extension.tenant_id == extension.tenant_id,
        Extension.redirect_to == f"extension:{extension.number}",
    )
    numbers = sorted(session.exec(stmt).all())
    if numbers:
        raise ConflictError(
            f"extensions {', '.join(numbers)} redirect to extension {extension.number}; "
            f"remove their redirects {doing}",
            redirected_from=numbers,
        )
