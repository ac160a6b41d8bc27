"""Synthetic signals with known answers (tempo, key, pitch, loudness).

Used by the known-answer tests and by ``bench/analyze.py``; generated, never stored.
"""

from __future__ import annotations

import numpy as np

from ..signal import ANALYSIS_SAMPLE_RATE, AnalysisSignal, DecodedAudio, prepare


def as_signal(samples: np.ndarray, *, sample_rate: int = ANALYSIS_SAMPLE_RATE) -> AnalysisSignal:
    """Wrap mono ``(n,)`` or ``(channels, n)`` float samples as a prepared signal."""
    if samples.ndim not in (1, 2):
        raise ValueError(f"expected samples of shape (n,) or (channels, n), got {samples.shape}")
    block = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    decoded = DecodedAudio(samples=block, sample_rate=sample_rate, format="WAV", subtype="FLOAT")
    return prepare(decoded)
