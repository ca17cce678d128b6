"""Every live channel of the engine by SIP endpoint, from the observation events.

Supervision needs "the call extension 101 is on now", whatever kind of call it is: a
queue call the ACD connected, a click-to-call, a phone-to-phone dialplan call or a dial
from an IVR flow. The CTI registry lists only some of them, with the legs' roles; the
engine's observation events (``ChannelStarted``... ``ChannelEnded``, see
:mod:`orchestrator.core.events`) see every channel with its SIP endpoint, state and
conversation. :class:`ChannelWatch` keeps that table; feed it every engine event::

    watch = ChannelWatch()
    engine.subscribe(watch.on_event)
    busy = watch.answered("101@acme.example")   # newest first
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.call import LegState
from orchestrator.core.events import (
    ChannelBridged,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    ChannelUnbridged,
    Event,
)


@dataclass(slots=True)
class SeenChannel:
    """One live channel as observation reports it."""

    id: str
    call_id: str
    name: str
    endpoint: str
    state: LegState
    started_at: float
    conversation_id: str | None = None  # whom it talks with (see ChannelBridged)


class ChannelWatch:
    """Live channels by id and by SIP endpoint (see the module doc)."""

    def __init__(self) -> None:
        self._channels: dict[str, SeenChannel] = {}
        self._by_endpoint: dict[str, dict[str, SeenChannel]] = {}

    def __len__(self) -> int:
        return len(self._channels)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._channels

    def get(self, channel_id: str) -> SeenChannel | None:
        return self._channels.get(channel_id)

    def answered(self, endpoint: str) -> list[SeenChannel]:
        """The endpoint's answered channels, those in a conversation first, then newest first."""
        found = [c for c in self._by_endpoint.get(endpoint, {}).values() if c.state is LegState.UP]
        found.sort(key=lambda c: (c.conversation_id is not None, c.started_at), reverse=True)
        return found

    def peers(self, channel_id: str) -> list[SeenChannel]:
        """The other channels in the conversation of ``channel_id`` (none if in none)."""
        channel = self._channels.get(channel_id)
        if channel is None or channel.conversation_id is None:
            return []
        return [
            c
            for c in self._channels.values()
            if c.conversation_id == channel.conversation_id and c.id != channel_id
        ]

    def on_event(self, event: Event) -> None:
        """The engine's event handler (everything but observation is ignored)."""
        if not isinstance(event, ChannelEvent):
            return
        if isinstance(event, ChannelStarted):
            seen = SeenChannel(
                id=event.channel_id,
                call_id=event.call_id,
                name=event.name,
                endpoint=event.endpoint,
                state=LegState(event.state),
                started_at=event.timestamp,
            )
            self._channels[seen.id] = seen
            if seen.endpoint:
                self._by_endpoint.setdefault(seen.endpoint, {})[seen.id] = seen
            return
        channel = self._channels.get(event.channel_id)
        if channel is None:
            return
        if isinstance(event, ChannelStateChanged):
            channel.state = LegState(event.state)
        elif isinstance(event, ChannelBridged):
            channel.conversation_id = event.conversation_id
        elif isinstance(event, ChannelUnbridged):
            if channel.conversation_id == event.conversation_id:
                channel.conversation_id = None
        elif isinstance(event, ChannelEnded):
            del self._channels[channel.id]
            mine = self._by_endpoint.get(channel.endpoint)
            if mine is not None:
                mine.pop(channel.id, None)
                if not mine:
                    del self._by_endpoint[channel.endpoint]
