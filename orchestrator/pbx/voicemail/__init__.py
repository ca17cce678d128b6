"""Voicemail in Python on the seam (docs/pbx.md, Voicemail): the same on every engine.

- :mod:`.deposit`: leaving a message; :class:`~.deposit.Depositor` is the
  ``VoicemailDepositor`` the extension flow calls;
- :mod:`.menu`: the owner's menu, the feature-code handlers ``voicemail`` and
  ``shared_voicemail`` (:class:`~.menu.OwnerHandlers`);
- :mod:`.flows`: the IVR apps ``voicemail_deposit`` / ``voicemail_main`` for access numbers;
- :mod:`.service`: every change of a mailbox (MWI, events, e-mail) in one place;
- :mod:`.storage`: the audio on the engine and in S3; :mod:`.mail`: voicemail to e-mail;
- :mod:`.notify`: the MWI notifier's interface; :mod:`.install`: the wiring.
"""

from orchestrator.pbx.voicemail.deposit import Depositor, VoicemailDepositor
from orchestrator.pbx.voicemail.menu import OwnerHandlers
from orchestrator.pbx.voicemail.notify import NO_MWI, MwiNotifier
from orchestrator.pbx.voicemail.service import VoicemailService

__all__ = [
    "NO_MWI",
    "Depositor",
    "MwiNotifier",
    "OwnerHandlers",
    "VoicemailDepositor",
    "VoicemailService",
]
