"""The analysis engine: a pure library (numpy, scipy, soundfile, soxr).

It imports nothing from the web side of SampleMind.

``analyze_file`` and ``analyze_bytes`` are imported on first use, so that
``import samplemind.analysis.signal`` (say) does not load every feature module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import AnalysisError, AnalysisErrorCode
from .record import AnalysisRecord

if TYPE_CHECKING:
    from .pipeline import analyze_bytes, analyze_file

__all__ = [
    "AnalysisError",
    "AnalysisErrorCode",
    "AnalysisRecord",
    "analyze_bytes",
    "analyze_file",
]

_LAZY = frozenset({"analyze_bytes", "analyze_file"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
