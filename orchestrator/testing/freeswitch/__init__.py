"""A protocol-exact fake FreeSWITCH for tests: an ESL server (inbound mode) over a
simulated switch (channels, loopback pairs, bridges, dialplan apps, mod_xml_curl).

See :class:`FakeFreeSwitch`. It behaves as the recorded captures in
``tests/data/freeswitch-esl`` show a FreeSWITCH 1.10.12 does.
"""

from orchestrator.testing.freeswitch.events import FsEvent
from orchestrator.testing.freeswitch.server import FakeFreeSwitch

__all__ = ["FakeFreeSwitch", "FsEvent"]
