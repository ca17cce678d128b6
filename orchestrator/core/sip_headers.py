"""SIP headers a new leg's INVITE may carry: :meth:`Engine.originate(..., headers=...)
<orchestrator.core.engine.Engine.originate>`.

Intercom and paging call phones that should answer by themselves; phones learn that from
a header of the INVITE, and makers differ on which one (Snom, Cisco, Yealink read
``Call-Info: <sip:...>;answer-after=0``; Grandstream, Polycom and others an
``Alert-Info`` carrying ``alert-autoanswer``), so a page sends both (:data:`AUTO_ANSWER`).

A header reaches engine syntax (Asterisk's ``PJSIP_HEADER(add,<name>)`` channel function,
FreeSWITCH's ``sip_h_<name>`` variables inside an originate's ``{...}`` block), so only
a fixed allow-list of names is accepted, and values of a strict shape: an optional
``<scheme:uri>`` then ``;param`` or ``;param=value`` tokens, nothing an engine could read
as a separator (no comma, quote, brace, space or line break). Headers only make sense on
a SIP leg: :class:`~orchestrator.core.targets.SipUser` or
:class:`~orchestrator.core.targets.TrunkNumber` (a tenant number, reached through the
dialplan, is refused). Example::

    await engine.originate(SipUser("101@a.example"), headers=AUTO_ANSWER)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from orchestrator.core.errors import ValidationError
from orchestrator.core.targets import SipUser, Target, TrunkNumber

__all__ = ["AUTO_ANSWER", "HEADER_NAMES", "check_sip_headers"]

# The names originate accepts, spelt as sent.
HEADER_NAMES = frozenset({"Call-Info", "Alert-Info"})
_URI = r"<[a-z][a-z0-9+.-]{0,15}:[A-Za-z0-9._~@:/?=&%+-]{1,200}>"
_PARAM = r"[A-Za-z][A-Za-z0-9-]{0,31}(?:=[A-Za-z0-9._-]{1,64})?"
HEADER_VALUE = re.compile(rf"(?:{_URI}|{_PARAM})(?:;{_PARAM}){{0,8}}")
MAX_VALUE = 256

AUTO_ANSWER: Mapping[str, str] = MappingProxyType(
    {
        # RFC 3261 Call-Info with the answer-after parameter (draft-ietf-sip-answermode's
        # predecessor, what most phones read).
        "Call-Info": "<sip:auto-answer.invalid>;answer-after=0",
        "Alert-Info": "<http://auto-answer.invalid>;info=alert-autoanswer;delay=0",
    }
)


def check_sip_headers(target: Target, headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` as a plain dict if every name is allowed (:data:`HEADER_NAMES`) and
    every value safe (:data:`HEADER_VALUE`) and ``target`` is a SIP leg; else
    :class:`~orchestrator.core.errors.ValidationError`. ``None`` or empty: ``{}`` (any
    target)."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValidationError("SIP headers must be a mapping of name to value", field="headers")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or name not in HEADER_NAMES:
            raise ValidationError(
                f"SIP header {name!r} may not be sent",
                field="headers",
                allowed=sorted(HEADER_NAMES),
            )
        if (
            not isinstance(value, str)
            or len(value) > MAX_VALUE
            or HEADER_VALUE.fullmatch(value) is None
        ):
            raise ValidationError(
                f"invalid value for SIP header {name}", field="headers", header=name
            )
        out[name] = value
    if out and not isinstance(target, SipUser | TrunkNumber):
        raise ValidationError(
            f"SIP headers need a SIP target (a SIP user or a trunk), not {target!r}",
            field="headers",
        )
    return out
