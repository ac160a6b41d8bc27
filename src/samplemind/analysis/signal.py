"""The engine's one pass: decoded audio, one resample, one spectrogram.

Every feature is computed from an :class:`AnalysisSignal`; nothing decodes,
resamples or takes an STFT a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import scipy.fft
import soxr

ANALYSIS_SAMPLE_RATE = 22050
"""Sample rate (Hz) of the mono signal every non-loudness feature uses."""
N_FFT = 2048
HOP_LENGTH = 512


@dataclass(frozen=True)
class DecodedAudio:
    """Audio as decoded from a file, at its native rate.

    ``samples`` is float32 with shape ``(channels, n_samples)``, full scale ±1.
    """

    samples: np.ndarray
    sample_rate: int
    format: str
    subtype: str | None = None
    bit_depth: int | None = None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.sample_rate

    @cached_property
    def peak(self) -> float:
        """Largest absolute sample value (0.0 when there are no samples); computed once."""
        if self.samples.size == 0:
            return 0.0
        return max(float(self.samples.max()), -float(self.samples.min()))


@dataclass(frozen=True)
class AnalysisSignal:
    """The shared intermediate data of one analysis.

    Attributes:
        decoded: the native-rate audio (loudness and peaks use it).
        mono: float32, shape ``(n,)``, the downmix resampled to ``sample_rate``.
        sample_rate: rate of ``mono`` in Hz (``ANALYSIS_SAMPLE_RATE``).
        n_fft, hop_length: STFT frame and hop sizes in samples of ``mono``.
    """

    decoded: DecodedAudio
    mono: np.ndarray
    sample_rate: int = ANALYSIS_SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    _cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def magnitude(self) -> np.ndarray:
        """STFT magnitude, float32, shape ``(1 + n_fft // 2, n_frames)``.

        Frames are centred (zero padded by ``n_fft // 2``) with a Hann window,
        frame ``t`` centred at sample ``t * hop_length``.
        """
        return stft_magnitude(self.mono, n_fft=self.n_fft, hop_length=self.hop_length)

    @cached_property
    def power(self) -> np.ndarray:
        """``magnitude ** 2``, same shape."""
        mag = self.magnitude
        power: np.ndarray = mag * mag
        return power

    @cached_property
    def frame_energy(self) -> np.ndarray:
        """Power summed over the bins of each frame, float64 ``(n_frames,)``."""
        return column_sums(self.power)

    @cached_property
    def freqs(self) -> np.ndarray:
        """Centre frequency in Hz of each STFT bin, shape ``(1 + n_fft // 2,)``."""
        return np.fft.rfftfreq(self.n_fft, d=1.0 / self.sample_rate)

    @property
    def n_frames(self) -> int:
        return int(self.magnitude.shape[1])

    @property
    def frame_rate(self) -> float:
        """STFT frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def duration(self) -> float:
        return self.decoded.duration


def column_sums(values: np.ndarray) -> np.ndarray:
    """Float64 sums over axis 0 of a ``(n_rows, n_columns)`` array, shape ``(n_columns,)``.

    As ``values.sum(axis=0, dtype=np.float64)`` up to rounding, but a
    matrix-vector product: numpy's axis-0 reduction of a spectrogram with few
    frames (a one-shot's) is many times slower.
    """
    rows = values if values.dtype == np.float64 else values.astype(np.float64)
    sums: np.ndarray = _ones(rows.shape[0]) @ rows
    return sums


@lru_cache(maxsize=8)
def _ones(n: int) -> np.ndarray:
    ones = np.ones(n)
    ones.flags.writeable = False
    return ones


@lru_cache(maxsize=64)
def band_bins(n_fft: int, sample_rate: int, low: float, high: float) -> tuple[int, int]:
    """The STFT bins with ``low <= f < high`` (Hz) as ``range(first, stop)``."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    return int(np.searchsorted(freqs, low, side="left")), int(
        np.searchsorted(freqs, high, side="left")
    )


def downmix(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a ``(channels, n)`` array to shape ``(n,)``."""
    if samples.ndim != 2:
        raise ValueError(f"expected (channels, n) samples, got shape {samples.shape}")
    mono: np.ndarray = (
        samples.mean(axis=0, dtype=np.float32) if samples.shape[0] > 1 else samples[0]
    )
    return mono


def prepare(decoded: DecodedAudio) -> AnalysisSignal:
    """Downmix and resample once; the spectrogram is computed on first use."""
    mono = downmix(decoded.samples)
    if decoded.sample_rate != ANALYSIS_SAMPLE_RATE:
        mono = soxr.resample(mono, decoded.sample_rate, ANALYSIS_SAMPLE_RATE, quality="HQ")
    return AnalysisSignal(decoded=decoded, mono=np.ascontiguousarray(mono, dtype=np.float32))


def stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Magnitude STFT of a mono signal.

    Args:
        y: float32 signal, shape ``(n,)``.
        n_fft: frame length in samples (a power of two).
        hop_length: hop in samples, ``0 < hop_length <= n_fft``.

    Returns:
        float32 array, shape ``(1 + n_fft // 2, 1 + n // hop_length)``.
    """
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal, got shape {y.shape}")
    if not 0 < hop_length <= n_fft:
        raise ValueError("hop_length must be in (0, n_fft]")
    half = n_fft // 2
    # Centred frames: n_fft // 2 zeros each side, and at least one whole frame.
    padded = np.zeros(max(y.size + 2 * half, n_fft), dtype=np.float32)
    padded[half : half + y.size] = y
    n_frames = 1 + (padded.size - n_fft) // hop_length
    frames = frame_view(padded, frame_length=n_fft, hop_length=hop_length)[:n_frames]
    # Transforming along axis 0 of the transposed frames gives the
    # (bins, frames) layout directly, with the same values as along axis 1.
    spectrum = scipy.fft.rfft((frames * _hann(n_fft)).T, axis=0)
    magnitude: np.ndarray = np.ascontiguousarray(np.abs(spectrum))
    return magnitude


def frame_view(y: np.ndarray, *, frame_length: int, hop_length: int = 1) -> np.ndarray:
    """Read-only view of the frames ``y[i * hop_length : i * hop_length + frame_length]``.

    As ``sliding_window_view(y, frame_length)[::hop_length]``, without its
    per-call overhead (which dominates for short one-shots).

    Args:
        y: C-contiguous signal, shape ``(n,)``, ``n >= frame_length``.
        frame_length: samples per frame (> 0).
        hop_length: samples between frame starts (> 0).

    Returns:
        Shape ``(1 + (n - frame_length) // hop_length, frame_length)``, sharing ``y``'s memory.
    """
    if y.ndim != 1 or not y.flags.c_contiguous:
        raise ValueError(f"expected a contiguous signal of shape (n,), got shape {y.shape}")
    if not 0 < frame_length <= y.size or hop_length <= 0:
        raise ValueError("need 0 < frame_length <= len(y) and hop_length > 0")
    n_frames = 1 + (y.size - frame_length) // hop_length
    step = y.itemsize
    view = np.ndarray(
        (n_frames, frame_length), dtype=y.dtype, buffer=y, strides=(step * hop_length, step)
    )
    view.flags.writeable = False
    return view


@lru_cache(maxsize=4)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window, float32 ``(n_fft,)`` (read-only: it is shared)."""
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    window.flags.writeable = False
    return window
