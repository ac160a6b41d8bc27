"""The classifier's input: a fixed-length vector read from the engine's one pass.

Nothing here decodes, resamples or transforms again. The vector is the raw
(unstandardised) timbre-embedding features (:func:`embedding.shared_embedding_features`,
cached on the signal, so asking for the embedding as well costs nothing more)
followed by a few descriptors of the shared pass, log-scaled where they span
decades:

===================  ==========================================================
name                 value
===================  ==========================================================
``log_duration``     ln(duration in s)
``log_centroid``     ln(max(spectral centroid, 20 Hz))
``log_rolloff``      ln(max(85 % roll-off, 20 Hz))
``log_bandwidth``    ln(max(spectral bandwidth, 20 Hz))
``log_flatness``     ln(spectral flatness + 1e-4)
``log_zcr``          ln(1 + zero crossings per s)
``log_attack``       ln(1 + attack ms)
``log_decay``        ln(1 + decay ms); the whole duration when it never decays
``low_ratio``        fraction of power below 200 Hz
``high_ratio``       fraction of power above 5 kHz
``pitch_confidence`` the pitch tracker's confidence (0 when it found no pitch)
``log_pitch``        ln(pitch in Hz), NaN when no pitch was found
``log_peak_hz``      ln(frequency of the strongest bin in 30-1000 Hz) of the
                     power summed over the frames within 30 dB of the loudest
``log_prominence``   ln(that bin's power / the band's mean power): a drum's
                     tone (tom, kick) stands out, a snare's noise does not
===================  ==========================================================

NaN marks an undefined value; the classifier's standardisation maps it to the
training mean.
"""

from __future__ import annotations

import math

import numpy as np

from .descriptors import Descriptors
from .embedding import BLOCK_SIZES, EMBEDDING_DIM, shared_embedding_features
from .signal import AnalysisSignal

__all__ = ["DESCRIPTOR_FEATURES", "FEATURE_NAMES", "N_FEATURES", "classifier_features"]

DESCRIPTOR_FEATURES: tuple[str, ...] = (
    "log_duration",
    "log_centroid",
    "log_rolloff",
    "log_bandwidth",
    "log_flatness",
    "log_zcr",
    "log_attack",
    "log_decay",
    "low_ratio",
    "high_ratio",
    "pitch_confidence",
    "log_pitch",
    "log_peak_hz",
    "log_prominence",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{block}_{index}" for block, size in BLOCK_SIZES.items() for index in range(size)),
    *DESCRIPTOR_FEATURES,
)
N_FEATURES = len(FEATURE_NAMES)
_MIN_HZ = 20.0
PEAK_BAND_HZ = (30.0, 1000.0)
PEAK_FRAMES_DB = 30.0


def classifier_features(
    signal: AnalysisSignal,
    descriptors: Descriptors,
    *,
    pitch_confidence: float | None,
    pitch_hz: float | None,
) -> np.ndarray:
    """The classifier's feature vector of one sound.

    Args:
        signal: the shared analysis pass of one file.
        descriptors: :func:`~samplemind.analysis.descriptors.compute_descriptors`
            of the same signal.
        pitch_confidence: the pitch estimate's confidence in [0, 1], or
            ``None`` when no pitch was found (or none was asked for: loops).
        pitch_hz: the pitch estimate in Hz, or ``None``.

    Returns:
        float64, shape ``(N_FEATURES,)`` in the order of :data:`FEATURE_NAMES`;
        NaN where a value is undefined (all NaN but the duration for silence).
    """
    if not isinstance(signal, AnalysisSignal):
        raise TypeError(f"expected an AnalysisSignal, got {type(signal).__name__}")
    embedding = shared_embedding_features(signal)
    if embedding is None:
        embedding = np.full(EMBEDDING_DIM, np.nan)
    duration = max(signal.duration, 1e-3)
    decay = descriptors.decay_ms if descriptors.decay_ms is not None else 1000.0 * duration
    values = (
        math.log(duration),
        _log(descriptors.spectral_centroid_hz, floor=_MIN_HZ),
        _log(descriptors.spectral_rolloff_hz, floor=_MIN_HZ),
        _log(descriptors.spectral_bandwidth_hz, floor=_MIN_HZ),
        _log(_shifted(descriptors.spectral_flatness, 1e-4), floor=1e-4),
        _log(_shifted(descriptors.zero_crossing_rate, 1.0), floor=1.0),
        _log(_shifted(descriptors.attack_ms, 1.0), floor=1.0),
        math.log1p(max(decay, 0.0)),
        _value(descriptors.low_energy_ratio),
        _value(descriptors.high_energy_ratio),
        float(pitch_confidence) if pitch_confidence is not None else 0.0,
        _log(pitch_hz, floor=_MIN_HZ),
        *_low_peak(signal),
    )
    return np.concatenate([embedding, np.array(values, dtype=np.float64)])


def _low_peak(signal: AnalysisSignal) -> tuple[float, float]:
    """``(ln peak Hz, ln prominence)`` of the strongest 30-1000 Hz bin; NaN for silence."""
    power = signal.power
    energy = signal.frame_energy
    top = float(energy.max(initial=0.0))
    band = (signal.freqs >= PEAK_BAND_HZ[0]) & (signal.freqs <= PEAK_BAND_HZ[1])
    if top <= 0 or not band.any():
        return math.nan, math.nan
    loud = energy >= top * 10.0 ** (-PEAK_FRAMES_DB / 10.0)
    spectrum = power[band][:, loud].sum(axis=1, dtype=np.float64)
    mean = float(spectrum.mean())
    if mean <= 0:
        return math.nan, math.nan
    peak = int(np.argmax(spectrum))
    return math.log(float(signal.freqs[band][peak])), math.log(float(spectrum[peak]) / mean)


def _shifted(value: float | None, offset: float) -> float | None:
    return None if value is None else value + offset


def _log(value: float | None, *, floor: float) -> float:
    return math.nan if value is None else math.log(max(value, floor))


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)
