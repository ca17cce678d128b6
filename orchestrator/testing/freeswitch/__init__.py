"""A protocol-exact fake FreeSWITCH for tests: an ESL server (inbound mode) over a
simulated switch (channels, loopback pairs, bridges, dialplan apps, mod_xml_curl).

See :class:`FakeFreeSwitch` (and :class:`FarEnd` for the phones and trunks it dials).
It behaves as the recorded captures in ``tests/data/freeswitch-esl`` show a
FreeSWITCH 1.10.12 does; docs/freeswitch.md says what it simulates and what not.

Modules: ``server`` (the public class), ``session`` (one ESL connection), ``events``
(rendering), ``channels`` / ``switch`` / ``lifecycle`` / ``bridging`` (the switch's
core), ``originate`` / ``phones`` / ``sip`` (dialling, far ends, directory checks),
``apps`` / ``media`` / ``digits`` / ``conference`` (dialplan applications),
``commands`` / ``system`` / ``listings`` / ``recording`` / ``registrations`` (api
commands), ``dialplan`` (XML dialplan and mod_xml_curl), ``names`` (causes, events).
"""

from orchestrator.testing.freeswitch.events import FsEvent
from orchestrator.testing.freeswitch.phones import FarEnd
from orchestrator.testing.freeswitch.server import FakeFreeSwitch

__all__ = ["FakeFreeSwitch", "FarEnd", "FsEvent"]
