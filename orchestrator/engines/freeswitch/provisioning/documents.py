"""A tenant's documents, rendered at their first lookup and kept.

A full apply of 1,000 tenants x 100 users used to render 200,000 documents up front
(4-5 s of its 9 s); most are not asked for before they change. :class:`Documents` keeps
what each document is rendered from (values :mod:`.render` checked when the index was
built) and renders a document when it is first looked up.

A SIP user's directory document is looked up at each REGISTER challenge after start-up
or a flush, 5,000 times a second and more, so its render must cost little next to the
lookup (about 100 us): :class:`UserDocuments` renders ``directory.xml.j2`` once per
tenant with a marker where each of the user's values goes, and a user's document is
then those pieces joined with its values, each escaped as the template's autoescape
escapes it (2 us instead of Jinja's 16). That is the template's own output only when
the template prints the user's values as they are, never testing or filtering them:
:func:`direct_values` reads that from the template's syntax tree, and a template that
does more is rendered by Jinja for each user.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import fields
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

import jinja2
from jinja2 import nodes
from markupsafe import Markup, escape

from orchestrator.provisioning.tenant import SipUser

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")
_MARK = "\x00"  # in no template text nor checked value (control characters are refused)


class Documents(Mapping[K, str], Generic[K, S]):
    """Documents rendered at their first lookup, then kept.

    ``sources`` maps each key to what its document is rendered from (values already
    checked when the index was built); ``render(key, source)`` makes the document. A
    lookup of a key not there costs a dict miss, as before; the first lookup of one
    that is there one render, the next ones a dict hit.
    """

    __slots__ = ("_render", "_rendered", "_sources")

    def __init__(self, render: Callable[[K, S], str], sources: dict[K, S]) -> None:
        self._render = render
        self._sources = sources
        self._rendered: dict[K, str] = {}

    def get(self, key: K, default: str | None = None) -> str | None:  # type: ignore[override]
        document = self._rendered.get(key)
        if document is None:
            source = self._sources.get(key)
            if source is None:
                return default
            # Lookups run on the event loop, one at a time; two threads rendering the
            # same key would only store the same text twice.
            document = self._rendered[key] = self._render(key, source)
        return document

    def __getitem__(self, key: K) -> str:
        document = self.get(key)
        if document is None:
            raise KeyError(key)
        return document

    def __contains__(self, key: object) -> bool:
        return key in self._sources

    def __iter__(self) -> Iterator[K]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def sources(self) -> Mapping[K, S]:
        """What each document is (or will be) rendered from."""
        return self._sources


#: The template's names for a user's values besides ``u`` (the :class:`SipUser`).
USER_NAMES = ("cid_name", "cid_number")


def direct_values(env: jinja2.Environment, name: str) -> tuple[str, ...] | None:
    """The user's values template ``name`` prints (``u.<field>`` as the field's name, or
    one of :data:`USER_NAMES`), in order, when it prints each as it is and uses none
    otherwise (no test, filter, loop or assignment); else None."""
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    if _MARK in source:
        return None
    tree = env.parse(source)
    user_names = {"u", *USER_NAMES}
    printed: list[str] = []
    for output in tree.find_all(nodes.Output):
        for node in output.nodes:
            if isinstance(node, nodes.Name) and node.name in USER_NAMES:
                printed.append(node.name)
            elif (
                isinstance(node, nodes.Getattr)
                and isinstance(node.node, nodes.Name)
                and node.node.name == "u"
            ):
                printed.append(node.attr)
    used = sum(1 for n in tree.find_all(nodes.Name) if n.name in user_names)
    known = {f.name for f in fields(SipUser)}
    if used != len(printed) or not set(printed) <= known | set(USER_NAMES):
        return None
    return tuple(printed)


class UserDocuments:
    """One tenant's directory documents, each rendered from its :class:`SipUser` (the
    renderer of its :class:`Documents`).

    ``context``: the template's values for the whole tenant; ``user_values(u)``: its
    values for one user (``u`` and :data:`USER_NAMES`); ``printed``: what
    :func:`direct_values` found, or None (then Jinja renders each user).
    """

    __slots__ = ("_context", "_pieces", "_printed", "_template", "_user_values")

    def __init__(
        self,
        template: jinja2.Template,
        printed: tuple[str, ...] | None,
        context: dict[str, Any],
        user_values: Callable[[SipUser], dict[str, Any]],
    ) -> None:
        self._template = template
        self._printed = printed
        self._context = context
        self._user_values = user_values
        self._pieces: list[str] = []

    def __call__(self, username: str, u: SipUser) -> str:
        values = self._user_values(u)
        if self._printed is None:
            return self._template.render(**self._context, **values)
        if not self._pieces:
            self._pieces = self._skeleton()
        pieces = self._pieces
        out = [pieces[0]]
        for i in range(1, len(pieces), 2):
            name = pieces[i]
            out.append(escape(values[name] if name in values else getattr(u, name)))
            out.append(pieces[i + 1])
        return "".join(out)

    def values(self, u: SipUser) -> tuple[object, ...]:
        """What of the user's reaches its document: two users with equal values have
        equal documents, and (each value printed escaped, in its place) unequal ones
        unequal documents. Without ``printed``, every value the template gets."""
        values = self._user_values(u)
        if self._printed is None:
            return tuple(values[name] for name in sorted(values))
        return tuple(values[n] if n in values else getattr(u, n) for n in self._printed)

    def _skeleton(self) -> list[str]:
        """The tenant's document split at its user values: text, name, text, ..., text."""
        marks = {name: Markup(f"{_MARK}{name}{_MARK}") for name in self._printed or ()}
        user = SimpleNamespace(**{f.name: marks.get(f.name, "") for f in fields(SipUser)})
        others = {name: marks.get(name, "") for name in USER_NAMES}
        return self._template.render(**self._context, u=user, **others).split(_MARK)
