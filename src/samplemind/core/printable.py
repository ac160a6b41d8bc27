"""Text the command-line tools print: file names that are not UTF-8, narrow encodings.

On POSIX a file name is bytes; Python decodes the bytes that are not UTF-8 to lone
surrogates (``surrogateescape``), which no encoder, JSON parser or server accepts.
"""

from __future__ import annotations

import io
from typing import Any, TextIO


def printable(text: str) -> str:
    """``text`` with the undecodable bytes of a file name shown as ``\\xNN``."""
    return _utf8_bytes(text).decode("utf-8", "backslashreplace")


def with_replacement_characters(text: str) -> str:
    """``text`` with each undecodable byte of a file name as U+FFFD: for a name sent to
    the server, which takes a backslash for a folder separator."""
    return _utf8_bytes(text).decode("utf-8", "replace")


def _utf8_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte: '?'
        return text.encode("utf-8", "replace")


def printable_strings(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, scalars) with :func:`printable` strings."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(key): printable_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [printable_strings(item) for item in value]
    return value


def escape_unencodable(stream: TextIO) -> None:
    """Print what the stream's encoding cannot represent as escapes instead of failing."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="backslashreplace")
