"""The PBX for its users: feature codes, call settings, follow-me, voicemail, MWI
(docs/pbx.md).

Built on the IVR's :class:`~orchestrator.ivr.call.IvrCall` and the Engine seam only
(never an engine adapter), so every feature behaves alike on every engine.

- :mod:`.codes`: the catalogue of feature-code actions, their defaults, the code syntax,
  the collision check and matching a dialed string;
- :mod:`.dispatch`: the builtin IVR flow ``pbx_code`` that runs a dialed feature code
  through the handlers features register (:class:`~.dispatch.FeatureHandlers`);
- :mod:`.follow_me` and :mod:`.ringer`: ringing a list of destinations.
- :mod:`.settings`: an extension's call settings (forwarding, DND, call waiting);
- :mod:`.extension_flow`: the builtin IVR flow ``pbx_extension`` that applies them;
- :mod:`.setting_codes`: the feature-code handlers that change them (``*72``...).
- :mod:`.mwi`: message waiting as reconciled state (the counts each phone should show,
  pushed again after re-registrations, reconnects and engine restarts).
- :mod:`.voicemail`: mailboxes, deposit, the owner's menu, storage and e-mail.
"""
