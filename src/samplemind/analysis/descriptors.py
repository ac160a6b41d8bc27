"""Timbre descriptors: spectral shape, envelope times, level and stereo width.

Everything is read from the shared pass (:class:`AnalysisSignal`): the spectral
values from ``signal.magnitude`` / ``signal.power``, the envelope times from
``signal.mono`` (22050 Hz), the level and stereo width from the native-rate
``signal.decoded.samples``.

Spectral values are averages over the *active* STFT frames (frame energy within
60 dB of the loudest frame), weighted by frame energy, so silence padding before
or after a hit does not dilute them. A silent signal gives ``None`` everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from .signal import AnalysisSignal, band_bins, column_sums

__all__ = [
    "ACTIVE_FRAME_DB",
    "Descriptors",
    "amplitude_envelope",
    "analytic_energy",
    "attack_time_ms",
    "column_sums",
    "compute_descriptors",
    "decay_time_ms",
    "first_event_peak",
    "flatness_bins",
    "magnitude_moment_sums",
    "spectral_rolloff",
]

ACTIVE_FRAME_DB = 60.0
"""Frames more than this many dB below the loudest frame are ignored."""
ROLLOFF_FRACTION = 0.85
SILENCE_PEAK = 1e-6
"""A signal whose absolute peak is at or below this (−120 dBFS) is silence."""
ATTACK_SMOOTHING_MS = 2.0
DECAY_SMOOTHING_MS = 5.0
"""Envelope smoothing (ms): short for attack timing, longer to steady noisy decays."""
ATTACK_LOW, ATTACK_HIGH = 0.1, 0.9
DECAY_LEVEL = 0.1
"""Decay ends where the envelope first falls 20 dB below the peak."""
EVENT_END_LEVEL = 0.5
HILBERT_BLOCK = 1 << 17
_SCAN_CHUNK = 4096
_ROLLOFF_BLOCK = 32
HILBERT_OVERLAP = 1 << 13
FLATNESS_MAX_HZ = 10_000.0
LOW_BAND_HZ = 200.0
HIGH_BAND_HZ = 5_000.0


@dataclass(frozen=True)
class Descriptors:
    """Timbre descriptors of one sound; each is ``None`` when undefined (silence).

    Attributes:
        spectral_centroid_hz: magnitude-weighted mean frequency (Hz), as librosa.
        spectral_rolloff_hz: frequency (Hz) below which 85 % of the spectral
            magnitude lies, as librosa.
        spectral_bandwidth_hz: magnitude-weighted standard deviation of frequency
            around the centroid (Hz).
        spectral_flatness: Wiener entropy of the power spectrum (geometric mean /
            arithmetic mean, 0..1) over 0 < f <= min(10 kHz, 0.9 x source Nyquist),
            so resampling filters do not pull it down. A sine gives ~0; white
            noise gives exp(-Euler gamma) = 0.56 (the periodogram's exponential
            spread, as librosa's power flatness); only a click reaches 1.
        zero_crossing_rate: sign changes of the 22050 Hz mono signal per *second*
            (a sine at f Hz gives 2 f), each weighted by the local envelope
            energy (2 ms), so silence does not count.
        attack_ms: equivalent linear attack time of the first event (ms): the
            10 %→90 % rise time of the Hilbert amplitude envelope (2 ms RMS
            smoothing) divided by 0.8, so a linear 0→peak ramp of T ms gives T
            and an impulse gives ~0. Tones below ~200 Hz read a few ms long
            (an envelope cannot resolve less than a fraction of a period).
        decay_ms: time (ms) from the first event's peak until the envelope
            (5 ms smoothing) first falls 20 dB below it (an exponential decay
            of r dB/s gives 20000 / r); ``None`` if it never does in the file.
            The first event ends where the envelope falls below half its
            running maximum (see :func:`first_event_peak`), so a loop's first
            hit is measured, not its loudest.
        rms_dbfs: RMS over all samples and channels at the native rate (dBFS,
            a full-scale sine is -3.01).
        stereo_width: ``min(1, side energy / mid energy)`` of the first two
            channels: 0 for mono or identical channels, 1 for uncorrelated
            equal-level, out-of-phase or one-sided channels.
        low_energy_ratio: fraction of spectral power below 200 Hz (0..1).
        high_energy_ratio: fraction of spectral power above 5 kHz (0..1).
    """

    spectral_centroid_hz: float | None = None
    spectral_rolloff_hz: float | None = None
    spectral_bandwidth_hz: float | None = None
    spectral_flatness: float | None = None
    zero_crossing_rate: float | None = None
    attack_ms: float | None = None
    decay_ms: float | None = None
    rms_dbfs: float | None = None
    stereo_width: float | None = None
    low_energy_ratio: float | None = None
    high_energy_ratio: float | None = None


def compute_descriptors(signal: AnalysisSignal) -> Descriptors:
    """Compute all :class:`Descriptors` of a prepared signal.

    Args:
        signal: the shared analysis pass of one file.

    Returns:
        The descriptors; all ``None`` for digital silence.
    """
    if not isinstance(signal, AnalysisSignal):
        raise TypeError(f"expected an AnalysisSignal, got {type(signal).__name__}")
    samples = signal.decoded.samples
    if signal.decoded.peak <= SILENCE_PEAK:
        return Descriptors()
    weights = _active_weights(signal.frame_energy, ACTIVE_FRAME_DB)
    rate = signal.sample_rate
    magnitude = signal.magnitude
    centroid, bandwidth = _spectral_moments(signal)
    active_power = _active_power(signal, weights)
    rms, width = _level_and_width(samples)
    return Descriptors(
        spectral_centroid_hz=_weighted_mean(centroid, weights),
        spectral_rolloff_hz=_weighted_mean(spectral_rolloff(magnitude, signal.freqs), weights),
        spectral_bandwidth_hz=_weighted_mean(bandwidth, weights),
        spectral_flatness=_weighted_mean(_spectral_flatness(signal), weights),
        zero_crossing_rate=_zero_crossing_rate(signal),
        attack_ms=attack_time_ms(amplitude_envelope(signal), sample_rate=rate),
        decay_ms=decay_time_ms(
            amplitude_envelope(signal, smoothing_ms=DECAY_SMOOTHING_MS), sample_rate=rate
        ),
        rms_dbfs=rms,
        stereo_width=width,
        low_energy_ratio=_band_energy_ratio(signal, active_power, high=LOW_BAND_HZ),
        high_energy_ratio=_band_energy_ratio(signal, active_power, low=HIGH_BAND_HZ),
    )


def active_frame_weights(power: np.ndarray, *, floor_db: float = ACTIVE_FRAME_DB) -> np.ndarray:
    """Per-frame averaging weights: frame energy, zero for inactive frames.

    Args:
        power: power spectrogram, shape ``(n_bins, n_frames)``.
        floor_db: frames more than this many dB below the loudest are inactive.

    Returns:
        float64, shape ``(n_frames,)``; all zeros if the spectrogram is silent.
    """
    if power.ndim != 2:
        raise ValueError(f"expected a (n_bins, n_frames) spectrogram, got shape {power.shape}")
    if floor_db <= 0:
        raise ValueError("floor_db must be > 0")
    return _active_weights(column_sums(power), floor_db)


def _active_weights(energy: np.ndarray, floor_db: float) -> np.ndarray:
    peak = float(energy.max(initial=0.0))
    if peak <= 0:
        return np.zeros_like(energy)
    return np.where(energy >= peak * 10.0 ** (-floor_db / 10.0), energy, 0.0)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    total = float(weights.sum())
    if total <= 0:
        return None
    return float(np.dot(values, weights) / total)


def _spectral_moments(signal: AnalysisSignal) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: centroid and bandwidth (Hz), float64 ``(n_frames,)``.

    A frame with no magnitude has centroid and bandwidth 0.
    """
    total, first, second = magnitude_moment_sums(signal)
    positive = total > 0
    centroid = np.divide(first, total, out=np.zeros_like(total), where=positive)
    second_moment = np.divide(second, total, out=np.zeros_like(total), where=positive)
    bandwidth = np.sqrt(np.maximum(second_moment - centroid**2, 0.0))
    return centroid, bandwidth


def magnitude_moment_sums(signal: AnalysisSignal) -> np.ndarray:
    """Per frame: the sums of ``|X|``, ``f |X|`` and ``f**2 |X|`` over the bins (f in Hz).

    One float32 product with the rows ``1, f, f**2`` (no float64 copy of a long
    spectrogram); cached as ``"magnitude_moment_sums"``.

    Returns:
        float64, shape ``(3, n_frames)`` (read-only: it is shared).
    """
    cached = signal._cache.get("magnitude_moment_sums")
    if isinstance(cached, np.ndarray):
        return cached
    rows = _moment_rows(signal.n_fft, signal.sample_rate)
    sums: np.ndarray = (rows @ signal.magnitude).astype(np.float64)
    sums.flags.writeable = False
    signal._cache["magnitude_moment_sums"] = sums
    return sums


@lru_cache(maxsize=8)
def _moment_rows(n_fft: int, sample_rate: int) -> np.ndarray:
    """float32 ``(3, 1 + n_fft // 2)``: ones, bin frequencies (Hz) and their squares
    (read-only: it is shared)."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    rows = np.stack([np.ones_like(freqs), freqs, freqs**2]).astype(np.float32)
    rows.flags.writeable = False
    return rows


def spectral_rolloff(magnitude: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Per frame, the frequency of the first bin where the cumulative magnitude
    reaches ``ROLLOFF_FRACTION`` of the frame's total (bin 0 for a silent frame).

    A cumulative sum over every bin is slow in numpy (a scalar loop), so the
    sums run over blocks of ``_ROLLOFF_BLOCK`` bins first; only the block that
    holds each frame's threshold is summed bin by bin, all in float64.

    Args:
        magnitude: non-negative spectrogram, shape ``(n_bins, n_frames)``.
        freqs: each bin's frequency in Hz, shape ``(n_bins,)``.

    Returns:
        float64 Hz, shape ``(n_frames,)``.
    """
    if magnitude.ndim != 2 or freqs.shape != magnitude.shape[:1]:
        raise ValueError(
            f"expected (n_bins, n_frames) and (n_bins,), got {magnitude.shape} and {freqs.shape}"
        )
    n_bins, n_frames = magnitude.shape
    padded = -n_bins % _ROLLOFF_BLOCK
    if padded:
        magnitude = np.concatenate([magnitude, np.zeros((padded, n_frames), magnitude.dtype)])
    blocks = magnitude.reshape(-1, _ROLLOFF_BLOCK, n_frames)
    before = np.zeros((blocks.shape[0] + 1, n_frames))
    np.cumsum(blocks.sum(axis=1, dtype=np.float64), axis=0, out=before[1:])
    threshold = ROLLOFF_FRACTION * before[-1]
    # The cumulative sums only grow: counting the ones below the threshold
    # gives the first one that reaches it.
    block = np.minimum(np.count_nonzero(before[1:] < threshold, axis=0), blocks.shape[0] - 1)
    columns = np.arange(n_frames)
    within = before[block, columns][:, np.newaxis] + np.cumsum(
        blocks[block, :, columns], axis=1, dtype=np.float64
    )
    index = block * _ROLLOFF_BLOCK + np.count_nonzero(within < threshold[:, np.newaxis], axis=1)
    return np.asarray(freqs[np.minimum(index, n_bins - 1)], dtype=np.float64)


def flatness_bins(signal: AnalysisSignal) -> tuple[int, int]:
    """The STFT bins flatness is measured on, as ``range(first, stop)``.

    ``0 < f <= min(10 kHz, 0.9 x the source's Nyquist)``: bins the resampling
    filter emptied would otherwise drag the geometric mean down.
    """
    return _flatness_bins(signal.n_fft, signal.sample_rate, signal.decoded.sample_rate)


@lru_cache(maxsize=32)
def _flatness_bins(n_fft: int, sample_rate: int, source_rate: int) -> tuple[int, int]:
    """The bins of :func:`flatness_bins` for a source rate."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    top = min(FLATNESS_MAX_HZ, 0.9 * (source_rate / 2.0), sample_rate / 2.0)
    band = np.flatnonzero((freqs > 0) & (freqs <= top))
    return int(band[0]), int(band[-1]) + 1


def _spectral_flatness(signal: AnalysisSignal) -> np.ndarray:
    first, stop = flatness_bins(signal)
    # A (frames, bins) copy, so every reduction runs along contiguous memory
    # (not ascontiguousarray: a single frame's row would be a view).
    power = signal.power[first:stop].T.copy()
    # A floor 100 dB under each frame's loudest bin keeps log() finite and the
    # measure independent of gain.
    floor = np.maximum(power.max(axis=1, keepdims=True) * np.float32(1e-10), np.float32(1e-30))
    np.maximum(power, floor, out=power)
    arithmetic = power.sum(axis=1, dtype=np.float64)
    # float32 logs, summed in float64: the mean log is exact to ~1e-7.
    log_geometric = np.log(power, out=power).sum(axis=1, dtype=np.float64)
    # exp(mean log) / mean, the mean being a sum over the same number of bins
    return np.asarray(np.exp(log_geometric / power.shape[1]) / (arithmetic / power.shape[1]))


def _zero_crossing_rate(signal: AnalysisSignal) -> float | None:
    """Sign changes per second, each weighted by the envelope energy where it occurs.

    Weighting per sample (not per frame) keeps silence padding and the partly
    silent frames at a sound's edges from diluting the rate.
    """
    y = signal.mono
    if y.size < 2:
        return None
    negative = np.signbit(y)
    crossings = np.not_equal(negative[1:], negative[:-1]).astype(np.float32)
    envelope = amplitude_envelope(signal)[1:]
    # float32 products summed by BLAS: no float64 copies, no boolean gather.
    total = float(np.dot(envelope, envelope))
    if total <= 0:
        return None
    return float(signal.sample_rate * np.dot(crossings, envelope * envelope) / total)


def _active_power(signal: AnalysisSignal, weights: np.ndarray) -> np.ndarray | None:
    """Power per bin summed over the active frames, float64 ``(n_bins,)``; ``None`` if none."""
    active = weights > 0
    if not active.any():
        return None
    # A matrix-vector product: an axis-1 sum over few frames is slow.
    return np.asarray((signal.power @ active.astype(np.float32)).astype(np.float64))


def _band_energy_ratio(
    signal: AnalysisSignal,
    active_power: np.ndarray | None,
    *,
    low: float = 0.0,
    high: float = np.inf,
) -> float | None:
    if active_power is None:
        return None
    total = float(active_power.sum())
    if total <= 0:
        return None
    first, stop = band_bins(signal.n_fft, signal.sample_rate, low, high)
    return float(active_power[first:stop].sum() / total)


def amplitude_envelope(
    signal: AnalysisSignal, *, smoothing_ms: float = ATTACK_SMOOTHING_MS
) -> np.ndarray:
    """Smoothed Hilbert amplitude envelope of ``signal.mono``.

    The magnitude of the analytic signal, RMS-smoothed over a centred window of
    ``smoothing_ms``; cached in ``signal._cache["amplitude_envelope_<ms>ms"]``
    (the unsmoothed energy under ``"analytic_energy"``).
    The analytic signal is computed in overlapping blocks, so a 20-minute file
    costs a few float32 arrays, not a 400 MB complex FFT.

    Args:
        signal: the shared analysis pass.
        smoothing_ms: smoothing window in milliseconds (> 0).

    Returns:
        float32, shape ``(len(signal.mono),)``, same units as the samples.
    """
    if not smoothing_ms > 0:
        raise ValueError(f"smoothing_ms must be > 0, got {smoothing_ms}")
    key = f"amplitude_envelope_{smoothing_ms:g}ms"
    cached = signal._cache.get(key)
    if isinstance(cached, np.ndarray):
        return cached
    width = max(1, round(smoothing_ms * signal.sample_rate / 1000.0))
    energy = signal._cache.get("analytic_energy")
    if not isinstance(energy, np.ndarray):
        energy = analytic_energy(signal.mono)
        signal._cache["analytic_energy"] = energy
    envelope: np.ndarray = scipy.ndimage.uniform_filter1d(energy, width, mode="constant")
    np.sqrt(np.maximum(envelope, 0.0, out=envelope), out=envelope)
    signal._cache[key] = envelope
    return envelope


def analytic_energy(
    y: np.ndarray, *, block: int = HILBERT_BLOCK, overlap: int = HILBERT_OVERLAP
) -> np.ndarray:
    """Squared magnitude of the analytic signal of ``y`` (shape ``(n,)``), float32.

    ``|y + i H(y)|^2 = y^2 + H(y)^2``. Long signals are processed in blocks of
    ``block`` samples padded with ``overlap`` neighbouring samples on each
    side; the Hilbert kernel decays as 1/n, so the seams are inaudible to the
    envelope.
    """
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal, got shape {y.shape}")
    if block <= 0 or overlap < 0:
        raise ValueError("block must be > 0 and overlap >= 0")
    y = y.astype(np.float32, copy=False)
    energy: np.ndarray = np.square(y)
    for start in range(0, y.size, block):
        stop = min(start + block, y.size)
        lo, hi = max(0, start - overlap), min(y.size, stop + overlap)
        hilbert = _hilbert_transform(y[lo:hi])[start - lo : stop - lo]
        energy[start:stop] += np.square(hilbert)
    return energy


def _hilbert_transform(y: np.ndarray) -> np.ndarray:
    """``H(y)``, the imaginary part of the analytic signal, float32 ``(n,)``.

    As ``scipy.signal.hilbert(y).imag`` (zero padded to a fast FFT length), but
    with one real inverse FFT: H multiplies positive frequencies by ``-i`` and
    zeroes DC and Nyquist.
    """
    n = scipy.fft.next_fast_len(y.size)
    spectrum = scipy.fft.rfft(y, n)
    np.multiply(spectrum, -1j, out=spectrum)
    spectrum[0] = 0
    if n % 2 == 0:
        spectrum[-1] = 0
    return np.asarray(scipy.fft.irfft(spectrum, n)[: y.size])


def first_event_peak(envelope: np.ndarray) -> int | None:
    """Index of the first event's peak in an amplitude envelope.

    The first event starts where the envelope first reaches 10 % of its global
    maximum and ends where it first falls below half of its running maximum;
    its peak is the largest value in between. ``None`` for an all-zero envelope.
    """
    if envelope.ndim != 1:
        raise ValueError(f"expected an envelope of shape (n,), got {envelope.shape}")
    top = float(envelope.max(initial=0.0))
    if top <= 0:
        return None
    start = _first_at_least(envelope, ATTACK_LOW * top)
    tail = envelope[start:]
    end = _first_fall(tail, EVENT_END_LEVEL)
    return start + int(np.argmax(tail[:end]))


def attack_time_ms(envelope: np.ndarray, *, sample_rate: float) -> float | None:
    """Equivalent linear attack time (ms) of the first event.

    ``(first time >= 0.9 P - first time >= 0.1 P) / 0.8`` where ``P`` is the
    first event's peak (:func:`first_event_peak`): a linear ramp from silence
    to the peak over T ms gives exactly T.

    Args:
        envelope: non-negative amplitude envelope, shape ``(n,)``.
        sample_rate: envelope samples per second (> 0).
    """
    if not sample_rate > 0:
        raise ValueError("sample_rate must be > 0")
    peak_index = first_event_peak(envelope)
    if peak_index is None:
        return None
    peak = float(envelope[peak_index])
    # Both levels are first reached at or before the peak.
    rise = envelope[: peak_index + 1]
    rise_start = _first_at_least(rise, ATTACK_LOW * peak)
    rise_end = _first_at_least(rise, ATTACK_HIGH * peak)
    return 1000.0 * (rise_end - rise_start) / (ATTACK_HIGH - ATTACK_LOW) / sample_rate


def decay_time_ms(envelope: np.ndarray, *, sample_rate: float) -> float | None:
    """Time (ms) from the first event's peak until the envelope falls 20 dB below it.

    ``None`` for an all-zero envelope or one that never falls that far.

    Args:
        envelope: non-negative amplitude envelope, shape ``(n,)``.
        sample_rate: envelope samples per second (> 0).
    """
    if not sample_rate > 0:
        raise ValueError("sample_rate must be > 0")
    peak_index = first_event_peak(envelope)
    if peak_index is None:
        return None
    tail = envelope[peak_index:]
    fall = _first_below(tail, DECAY_LEVEL * float(envelope[peak_index]))
    return 1000.0 * fall / sample_rate if fall < tail.size else None


# Envelope searches scan in chunks and stop at the first hit: a one-shot's
# attack and first decay are near its start, however long its tail.


def _first_at_least(values: np.ndarray, level: float) -> int:
    """Index of the first ``values >= level``; ``values.size`` if none."""
    for start in range(0, values.size, _SCAN_CHUNK):
        hits = values[start : start + _SCAN_CHUNK] >= level
        if hits.any():
            return start + int(np.argmax(hits))
    return int(values.size)


def _first_below(values: np.ndarray, level: float) -> int:
    """Index of the first ``values < level``; ``values.size`` if none."""
    for start in range(0, values.size, _SCAN_CHUNK):
        hits = values[start : start + _SCAN_CHUNK] < level
        if hits.any():
            return start + int(np.argmax(hits))
    return int(values.size)


def _first_fall(values: np.ndarray, fraction: float) -> int:
    """Index of the first value below ``fraction`` of the running maximum
    (``values[: i + 1].max()``); ``values.size`` if none."""
    running = None
    for start in range(0, values.size, _SCAN_CHUNK):
        chunk = values[start : start + _SCAN_CHUNK]
        peaks = np.maximum.accumulate(chunk)
        if running is not None:
            np.maximum(peaks, running, out=peaks)
        hits = chunk < fraction * peaks
        if hits.any():
            return start + int(np.argmax(hits))
        running = peaks[-1]
    return int(values.size)


def _level_and_width(samples: np.ndarray) -> tuple[float | None, float | None]:
    """RMS level (dBFS, all channels) and stereo width of ``(channels, n)`` samples.

    For two or more channels both come from the mid and side energies of the
    first two: ``(L+R)**2 + (L-R)**2 = 2 (L**2 + R**2)``.
    """
    if samples.shape[0] < 2:
        return _rms_dbfs(samples), 0.0
    # float32 sums (BLAS accumulates in blocks): ample for 2-3 printed digits.
    mid = _energy(np.add(samples[0], samples[1], dtype=np.float32))
    side = _energy(np.subtract(samples[0], samples[1], dtype=np.float32))
    if samples.shape[0] == 2:
        mean_square = (mid + side) / (2.0 * samples.size)
        rms = 10.0 * math.log10(mean_square) if mean_square > 0 else None
    else:
        rms = _rms_dbfs(samples)
    if mid + side <= 0:
        return rms, None
    if mid <= 0:
        return rms, 1.0
    return rms, min(1.0, side / mid)


def _rms_dbfs(samples: np.ndarray) -> float | None:
    values = samples.astype(np.float64).reshape(-1)
    mean_square = float(np.dot(values, values)) / values.size
    return 10.0 * float(np.log10(mean_square)) if mean_square > 0 else None


def _energy(values: np.ndarray) -> float:
    """Sum of squares of an array."""
    return float(np.dot(values, values))
