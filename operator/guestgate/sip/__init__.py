"""The SIP side, pure: messages, ladders, their diagnosis and its outputs (the engine is guestgate.engine).

Public API, for `guestgate diagnose`, `guestgate probe` and the operator's status:

- ``sip.importers.load_file(path, fmt="auto") -> Imported`` (``.ladders``, ``.notes``); raises
  ``sip.importers.InputError`` with a message for the user. ``import_bytes(data, label, fmt)``
  does the same for bytes.
- ``sip.ladder.ladder_from_capture(capture, name=...) -> Ladder``: a live call (sip.capture).
- ``sip.diagnosis.diagnose(ladders, caller_platform=None, callee_platform=None) -> Report``
  (``.outcome``, ``.findings``, ``.comparison``, ``.notes``, ``.outcome_of(call)``).
- ``sip.report.render_text / report_to_json / render_svg / exit_code (report)`` (0, 1, or 3 for a
  partial trace, INCONCLUSIVE; sip.partial says what it suggests, sip.legs names B2BUA legs,
  sip.segments joins a call cut across several files).
- ``sip.findings.Finding.to_dict()`` / ``.to_status()``: a finding as plain data.
- ``sip.q850.lookup(value)``, ``sip.fixes.fix_for(code, caller_platform, callee_platform)``.

Nothing is imported here, so ``import guestgate.sip.x`` stays as light as ``x``.
"""
