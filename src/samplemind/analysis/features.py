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
``body_hf_flatness`` ln(spectral flatness + 1e-4) of the 2-10 kHz band of the
                     body's mean power spectrum (STFT frames 2-9 after the
                     onset, ~46-210 ms): snare wires keep a flat noise there,
                     a tom's or kick's decay does not
``body_overtones``   ln(power 1.3-4 x the body's strongest 30-1000 Hz peak /
                     power within 19 % of it): a pure sine (a tuned kick) has
                     none, a membrane's modes (tom) some, a snare many
``glide``            octaves the low-passed (< 500 Hz) waveform's zero-crossing
                     frequency falls from 0-40 ms to 60-140 ms after the onset
                     (kick and tom pitch sweeps); NaN without enough crossings
===================  ==========================================================

NaN marks an undefined value; the classifier's standardisation maps it to the
training mean.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.signal

from .descriptors import Descriptors, amplitude_envelope
from .embedding import BLOCK_SIZES, EMBEDDING_DIM, shared_embedding_features
from .signal import AnalysisSignal, band_bins

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
    "body_hf_flatness",
    "body_overtones",
    "glide",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{block}_{index}" for block, size in BLOCK_SIZES.items() for index in range(size)),
    *DESCRIPTOR_FEATURES,
)
N_FEATURES = len(FEATURE_NAMES)
_MIN_HZ = 20.0
PEAK_BAND_HZ = (30.0, 1000.0)
PEAK_FRAMES_DB = 30.0
ONSET_DB = -30.0
"""The onset frame: the first within 30 dB of the loudest (as the embedding's)."""
BODY_FRAMES = (2, 10)
"""The body: STFT frames ``onset + 2`` to ``onset + 9``."""
BODY_FLOOR_DB = -60.0
HF_BAND_HZ = (2000.0, 10_000.0)
OVERTONE_RANGE = (1.3, 4.0)
FUNDAMENTAL_WIDTH = 1.19
GLIDE_LOWPASS_HZ = 500.0
GLIDE_EARLY_MS = (0.0, 40.0)
GLIDE_LATE_MS = (60.0, 140.0)
GLIDE_ONSET_DB = -20.0


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
        *_body_spectrum(signal),
        _glide(signal),
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


def _body_spectrum(signal: AnalysisSignal) -> tuple[float, float]:
    """``(body_hf_flatness, body_overtones)``; NaN without a body (silence, too short)."""
    energy = signal.frame_energy
    top = float(energy.max(initial=0.0))
    if top <= 0:
        return math.nan, math.nan
    onset = int(np.argmax(energy >= top * 10.0 ** (ONSET_DB / 10.0)))
    start, stop = onset + BODY_FRAMES[0], min(onset + BODY_FRAMES[1], energy.size)
    frames = np.arange(start, stop)
    frames = frames[energy[start:stop] >= top * 10.0 ** (BODY_FLOOR_DB / 10.0)]
    if frames.size == 0:
        return math.nan, math.nan
    spectrum = signal.power[:, frames].sum(axis=1, dtype=np.float64) / frames.size
    return _flatness_in(signal, spectrum), _overtones(signal, spectrum)


def _flatness_in(signal: AnalysisSignal, spectrum: np.ndarray) -> float:
    """ln(flatness + 1e-4) of ``spectrum`` over 2-10 kHz (below 0.9 x the source's Nyquist)."""
    high = min(HF_BAND_HZ[1], 0.45 * signal.decoded.sample_rate, 0.5 * signal.sample_rate)
    if high < 1.5 * HF_BAND_HZ[0]:
        return math.nan
    first, stop = band_bins(signal.n_fft, signal.sample_rate, HF_BAND_HZ[0], high)
    band = spectrum[first:stop]
    mean = float(band.mean())
    if mean <= 0:
        return math.nan
    band = np.maximum(band, float(band.max()) * 1e-10)
    return math.log(math.exp(float(np.log(band).mean())) / mean + 1e-4)


def _overtones(signal: AnalysisSignal, spectrum: np.ndarray) -> float:
    """ln(power 1.3-4 x the strongest 30-1000 Hz bin / power within 19 % of it)."""
    first, stop = band_bins(signal.n_fft, signal.sample_rate, *PEAK_BAND_HZ)
    if stop <= first:
        return math.nan
    peak = first + int(np.argmax(spectrum[first:stop]))
    if spectrum[peak] <= 0:
        return math.nan
    bin_hz = signal.sample_rate / signal.n_fft
    f0 = peak * bin_hz
    # the Hann window's main lobe spans +-2 bins: keep it out of the overtones
    lobe = 3.0 * bin_hz
    low = max(f0 / FUNDAMENTAL_WIDTH, f0 - lobe)
    fundamental = _band_sum(spectrum, bin_hz, low, max(f0 * FUNDAMENTAL_WIDTH, f0 + lobe))
    overtones = _band_sum(
        spectrum, bin_hz, max(f0 * OVERTONE_RANGE[0], f0 + lobe + bin_hz), f0 * OVERTONE_RANGE[1]
    )
    floor = float(spectrum.max()) * 1e-8
    return math.log((overtones + floor) / (fundamental + floor))


def _band_sum(spectrum: np.ndarray, bin_hz: float, low: float, high: float) -> float:
    """Sum of the bins with ``low <= f <= high``."""
    first = max(0, math.ceil(low / bin_hz))
    stop = min(spectrum.size, math.floor(high / bin_hz) + 1)
    return float(spectrum[first:stop].sum()) if stop > first else 0.0


def _glide(signal: AnalysisSignal) -> float:
    """Octaves the low band's zero-crossing frequency falls between the early and
    late windows after the onset (positive: downwards); NaN when either window
    holds fewer than 2 full periods."""
    envelope = amplitude_envelope(signal)
    if envelope.size == 0:
        return math.nan
    level = float(envelope.max())
    if level <= 0:
        return math.nan
    rate = signal.sample_rate
    onset = int(np.argmax(envelope >= level * 10.0 ** (GLIDE_ONSET_DB / 20.0)))
    stop = min(signal.mono.size, onset + round(GLIDE_LATE_MS[1] * rate / 1000.0))
    if stop - onset < 8:
        return math.nan
    # sosfilt refuses a read-only array: a copy of the cached sections
    low = scipy.signal.sosfilt(_lowpass(rate).copy(), signal.mono[onset:stop].astype(np.float64))
    # rising zero crossings, placed between samples by linear interpolation
    rising = np.flatnonzero((low[:-1] < 0) & (low[1:] >= 0))
    if rising.size < 3:
        return math.nan
    times = rising + low[rising] / (low[rising] - low[rising + 1])
    periods = np.diff(times)
    middles = 1000.0 * (times[:-1] + times[1:]) / (2.0 * rate)
    early = periods[(middles >= GLIDE_EARLY_MS[0]) & (middles < GLIDE_EARLY_MS[1])]
    late = periods[(middles >= GLIDE_LATE_MS[0]) & (middles < GLIDE_LATE_MS[1])]
    if early.size < 2 or late.size < 2:
        return math.nan
    return math.log2(float(np.median(late)) / float(np.median(early)))


@lru_cache(maxsize=4)
def _lowpass(sample_rate: int) -> np.ndarray:
    """Second-order sections of a 4th-order Butterworth low-pass at 500 Hz (read-only)."""
    sos: np.ndarray = scipy.signal.butter(
        4, GLIDE_LOWPASS_HZ, btype="low", fs=sample_rate, output="sos"
    )
    sos.flags.writeable = False
    return sos


def _shifted(value: float | None, offset: float) -> float | None:
    return None if value is None else value + offset


def _log(value: float | None, *, floor: float) -> float:
    return math.nan if value is None else math.log(max(value, floor))


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)
