"""STAND-IN (see esl/__init__.py)."""

from __future__ import annotations

from orchestrator.core.errors import CallError


class EslCommandError(CallError):
    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message, **details)
        self.text = message
