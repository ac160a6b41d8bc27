"""Stable error codes the engine reports instead of raising to its callers."""

from __future__ import annotations

from enum import StrEnum


class AnalysisErrorCode(StrEnum):
    UNSUPPORTED_FORMAT = "unsupported_format"
    DECODE_ERROR = "decode_error"
    EMPTY_AUDIO = "empty_audio"
    TOO_LONG = "too_long"
    INTERNAL_ERROR = "internal_error"


class AnalysisError(Exception):
    """An input the engine cannot analyse; carries a stable ``code``."""

    def __init__(self, code: AnalysisErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
