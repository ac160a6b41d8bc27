"""The "sounds like" embedding: a fixed-size timbre vector compared by cosine.

Built only from the shared pass (``signal.power`` and the amplitude envelope of
``signal.mono`` that the descriptors also use); no learned model. Six blocks of
hand-designed features, each describing the sound *relative to its own peak*
(so gain does not matter), aligned at the onset:

========  ====  ==============================================================
block     dims  content
========  ====  ==============================================================
segments  60    log-mel spectrum (64 bands, dB re. the loudest frame, floor
                -60 dB) averaged over 6 onset-aligned time segments of 1, 1,
                2, 4, 8 and the remaining STFT frames; 10 DCT coefficients each
envelope  10    broadband energy (dB re. its 2 ms peak) in windows 0-2, 2-5,
                ... 640-1280 ms after the onset
shape     9     DCT coefficients 1-9 of the active frames' mean log-mel
contrast  8     spectral contrast (log10 peak/valley) in 8 octave bands
trajectory 12   log spectral centroid and log flatness in each time segment
bands     20    per band (0-200, 200-1k, 1k-4k, 4k+ Hz): log frames to fall
                10/20/30 dB below the band's peak, the band's peak level and
                log frames from the onset to the band's peak
========  ====  ==============================================================

Each dimension is standardised with fixed constants (mean and standard
deviation over the development corpus, written into this file by
``bench/embedding_recall.py --write-constants``), each block is scaled by
``weight / sqrt(dims)`` and the vector is L2-normalised. Undefined values (a
time segment after the end of a short sound) become the corpus mean (0).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from .descriptors import amplitude_envelope, flatness_bins, magnitude_moment_sums
from .signal import AnalysisSignal, band_bins, column_sums

__all__ = [
    "BLOCK_SIZES",
    "BLOCK_WEIGHTS",
    "EMBEDDING_DIM",
    "compute_embedding",
    "embedding_features",
    "mel_filterbank",
    "shared_embedding_features",
]

N_MELS = 64
MEL_FMIN = 20.0
MEL_FMAX = 10_000.0
N_COEFFS = 10
FLOOR_DB = -60.0
ONSET_DB = -30.0
"""The onset frame is the first whose energy is within 30 dB of the loudest."""
SEGMENT_EDGES = (0, 1, 2, 4, 8, 16)
"""Segment starts in STFT frames after the onset; the last runs to the end."""
ENVELOPE_EDGES_MS = (0, 2, 5, 10, 20, 40, 80, 160, 320, 640, 1280)
CONTRAST_EDGES_HZ = (0, 100, 200, 400, 800, 1600, 3200, 6400, np.inf)
CONTRAST_QUANTILE = 0.2
DECAY_BANDS_HZ = ((0, 200), (200, 1000), (1000, 4000), (4000, np.inf))
DECAY_LEVELS_DB = (-10.0, -20.0, -30.0)

BLOCK_SIZES: dict[str, int] = {
    "segments": len(SEGMENT_EDGES) * N_COEFFS,
    "envelope": len(ENVELOPE_EDGES_MS) - 1,
    "shape": N_COEFFS - 1,
    "contrast": len(CONTRAST_EDGES_HZ) - 1,
    "trajectory": 2 * len(SEGMENT_EDGES),
    "bands": len(DECAY_BANDS_HZ) * (len(DECAY_LEVELS_DB) + 2),
}
BLOCK_WEIGHTS: dict[str, float] = {
    "segments": 1.0,
    "envelope": 0.5,
    "shape": 1.0,
    "contrast": 1.0,
    "trajectory": 1.0,
    "bands": 1.0,
}
EMBEDDING_DIM = sum(BLOCK_SIZES.values())
"""Length of every embedding (119)."""

_MEL_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def compute_embedding(signal: AnalysisSignal) -> np.ndarray:
    """The timbre embedding of a prepared signal.

    Args:
        signal: the shared analysis pass of one file.

    Returns:
        float32, shape ``(EMBEDDING_DIM,)``, unit L2 norm. Digital silence gives
        the constant vector ``1 / sqrt(EMBEDDING_DIM)``.
    """
    if not isinstance(signal, AnalysisSignal):
        raise TypeError(f"expected an AnalysisSignal, got {type(signal).__name__}")
    features = shared_embedding_features(signal)
    if features is None:
        return np.full(EMBEDDING_DIM, 1.0 / np.sqrt(EMBEDDING_DIM), dtype=np.float32)
    return standardise(features)


def standardise(features: np.ndarray) -> np.ndarray:
    """Map raw features (shape ``(EMBEDDING_DIM,)``) to the unit-norm float32 embedding."""
    if features.shape != (EMBEDDING_DIM,):
        raise ValueError(f"expected shape ({EMBEDDING_DIM},), got {features.shape}")
    z = (features - _FEATURE_MEAN) / _FEATURE_STD
    z = np.where(np.isfinite(z), z, 0.0) * _block_scales()
    norm = float(np.linalg.norm(z))
    if norm == 0.0:
        return np.full(EMBEDDING_DIM, 1.0 / np.sqrt(EMBEDDING_DIM), dtype=np.float32)
    return np.asarray(z / norm, dtype=np.float32)


def _block_scales() -> np.ndarray:
    return np.concatenate(
        [np.full(size, BLOCK_WEIGHTS[name] / np.sqrt(size)) for name, size in BLOCK_SIZES.items()]
    )


def shared_embedding_features(signal: AnalysisSignal) -> np.ndarray | None:
    """:func:`embedding_features`, computed once per signal (cached as ``"embedding_features"``).

    The embedding and the category classifier both read it; the cached array is
    read-only.
    """
    if "embedding_features" not in signal._cache:
        features = embedding_features(signal)
        if features is not None:
            features.flags.writeable = False
        signal._cache["embedding_features"] = features
    cached = signal._cache["embedding_features"]
    return cached if isinstance(cached, np.ndarray) else None


def embedding_features(signal: AnalysisSignal) -> np.ndarray | None:
    """The raw (unstandardised) feature vector, or ``None`` for digital silence.

    Returns:
        float64, shape ``(EMBEDDING_DIM,)`` in the block order of
        :data:`BLOCK_SIZES`; NaN marks an undefined value.
    """
    power = signal.power
    frame_energy = signal.frame_energy
    if power.size == 0 or float(frame_energy.max()) <= 0:
        return None
    mel = _mel_power(signal)
    mel_energy = column_sums(mel)
    onset = int(np.argmax(frame_energy >= frame_energy.max() * _db_to_power(ONSET_DB)))
    segments = _segment_slices(onset, power.shape[1])
    averaging = _segment_averaging(segments, power.shape[1])
    blocks = [
        _segment_block(mel, averaging, mel_energy),
        _envelope_block(signal),
        _shape_block(mel, mel_energy),
        _contrast_block(signal),
        _trajectory_block(signal, segments, averaging),
        _band_block(signal, onset),
    ]
    return np.concatenate(blocks)


def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), each normalised to unit sum.

    Covers ``MEL_FMIN`` to ``min(MEL_FMAX, sample_rate / 2)``; cached per
    ``(sample_rate, n_fft, n_mels)``.

    Returns:
        float32, shape ``(n_mels, 1 + n_fft // 2)``.
    """
    if sample_rate <= 0 or n_fft <= 0 or n_mels <= 0:
        raise ValueError("sample_rate, n_fft and n_mels must be > 0")
    key = (sample_rate, n_fft, n_mels)
    cached = _MEL_CACHE.get(key)
    if cached is not None:
        return cached
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    top = min(MEL_FMAX, sample_rate / 2.0)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(MEL_FMIN), _hz_to_mel(top), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    # Narrow low filters can fall between bins: give each at least its nearest bin.
    empty = filters.sum(axis=1) == 0
    filters[empty, np.argmin(np.abs(freqs[None, :] - centre[empty]), axis=1)] = 1.0
    filters /= filters.sum(axis=1, keepdims=True)
    bank: np.ndarray = filters.astype(np.float32)
    _MEL_CACHE[key] = bank
    return bank


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return np.asarray(2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0))


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return np.asarray(700.0 * (10.0 ** (mel / 2595.0) - 1.0))


def _db_to_power(db: float) -> float:
    return float(10.0 ** (db / 10.0))


def _mel_power(signal: AnalysisSignal) -> np.ndarray:
    """Mel power spectrogram, shape ``(N_MELS, n_frames)``, cached as ``"mel_power"``."""
    cached = signal._cache.get("mel_power")
    if isinstance(cached, np.ndarray):
        return cached
    bank = mel_filterbank(sample_rate=signal.sample_rate, n_fft=signal.n_fft)
    mel: np.ndarray = (bank @ signal.power).astype(np.float64)
    signal._cache["mel_power"] = mel
    return mel


def _segment_slices(onset: int, n_frames: int) -> list[slice]:
    starts = [onset + edge for edge in SEGMENT_EDGES]
    stops = [*starts[1:], n_frames]
    return [slice(min(a, n_frames), min(b, n_frames)) for a, b in zip(starts, stops, strict=True)]


def _segment_averaging(segments: list[slice], n_frames: int) -> np.ndarray:
    """float32 ``(n_frames, n_segments)``: column j averages the frames of segment j
    (all zeros for an empty segment), so one product averages every segment."""
    averaging = np.zeros((n_frames, len(segments)), dtype=np.float32)
    for column, part in enumerate(segments):
        if part.stop > part.start:
            averaging[part, column] = 1.0 / (part.stop - part.start)
    return averaging


def _relative_db(power: np.ndarray, reference: float) -> np.ndarray:
    floor = reference * _db_to_power(FLOOR_DB)
    return np.asarray(10.0 * np.log10(np.maximum(power, floor) / reference))


def _segment_block(mel: np.ndarray, averaging: np.ndarray, mel_energy: np.ndarray) -> np.ndarray:
    reference = float(mel_energy.max())
    levels = _relative_db(mel @ averaging.astype(np.float64), reference)
    coefficients = _dct_rows(mel.shape[0]) @ levels
    return np.asarray(coefficients.T.ravel())


def _shape_block(mel: np.ndarray, mel_energy: np.ndarray) -> np.ndarray:
    reference = float(mel_energy.max())
    active = mel_energy >= reference * _db_to_power(FLOOR_DB)
    levels = _relative_db(mel @ active / np.count_nonzero(active), reference)
    return np.asarray(_dct_rows(mel.shape[0])[1:] @ levels)


@lru_cache(maxsize=4)
def _dct_rows(n: int) -> np.ndarray:
    """float64 ``(N_COEFFS, n)``: the first rows of the orthonormal DCT-II matrix,
    so ``_dct_rows(n) @ x == scipy.fft.dct(x, norm="ortho", axis=0)[:N_COEFFS]``
    (one product instead of a transform call; read-only: it is shared)."""
    k = np.arange(N_COEFFS)[:, None]
    rows: np.ndarray = np.sqrt(2.0 / n) * np.cos(
        np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n)
    )
    rows[0] /= np.sqrt(2.0)
    rows.flags.writeable = False
    return rows


def _envelope_block(signal: AnalysisSignal) -> np.ndarray:
    """Mean energy in onset-aligned windows, dB re. the 2 ms peak energy."""
    energy = amplitude_envelope(signal) ** 2
    reference = float(energy.max())
    if reference <= 0:
        return np.full(BLOCK_SIZES["envelope"], FLOOR_DB)
    onset = int(np.argmax(energy >= reference * _db_to_power(-20.0)))
    cumulative = np.concatenate(([0.0], np.cumsum(energy)))
    edges = np.array(ENVELOPE_EDGES_MS) * signal.sample_rate / 1000.0
    bounds = np.minimum(onset + np.round(edges).astype(np.int64), energy.size)
    lo, hi = bounds[:-1], bounds[1:]
    means = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    return _relative_db(means, reference)


def _contrast_block(signal: AnalysisSignal) -> np.ndarray:
    """Energy-weighted log10 ratio of the top and bottom 20 % of bins per octave band."""
    energy = signal.frame_energy
    # (frames, bins), each band's bins sorted per frame: numpy's vectorised sort
    # of contiguous rows is several times faster than a partition. Then one
    # product gives each band's valley and peak means and its energy.
    frames = signal.power.T[energy >= energy.max() * _db_to_power(-40.0)]
    floor = float(frames.max()) * 1e-8
    for first, stop in _contrast_bands(signal.n_fft, signal.sample_rate):
        frames[:, first:stop].sort(axis=1)
    n_bands = len(CONTRAST_EDGES_HZ) - 1
    sums = (frames @ _contrast_selection(signal.n_fft, signal.sample_rate)).T.astype(np.float64)
    valleys, peaks, weights = sums[:n_bands], sums[n_bands : 2 * n_bands], sums[2 * n_bands :]
    contrast = np.log10((peaks + floor) / (valleys + floor))
    totals = weights.sum(axis=1)
    weighted = (contrast * weights).sum(axis=1)
    undefined = np.full(totals.shape, np.nan)
    return np.asarray(np.divide(weighted, totals, out=undefined, where=totals > 0))


@lru_cache(maxsize=8)
def _contrast_bands(n_fft: int, sample_rate: int) -> tuple[tuple[int, int], ...]:
    """The bins ``(first, stop)`` of each contrast band."""
    return tuple(
        band_bins(n_fft, sample_rate, low, high)
        for low, high in itertools.pairwise(CONTRAST_EDGES_HZ)
    )


@lru_cache(maxsize=8)
def _contrast_selection(n_fft: int, sample_rate: int) -> np.ndarray:
    """float32 ``(n_bins, 3 n_bands)`` for frames whose bands are sorted: columns
    averaging each band's bottom 20 % of bins, then its top 20 %, then summing the
    whole band (read-only: it is shared)."""
    bands = _contrast_bands(n_fft, sample_rate)
    selection = np.zeros((1 + n_fft // 2, 3 * len(bands)), dtype=np.float32)
    for column, (first, stop) in enumerate(bands):
        count = max(1, int(CONTRAST_QUANTILE * (stop - first)))
        selection[first : first + count, column] = 1.0 / count
        selection[stop - count : stop, len(bands) + column] = 1.0 / count
        selection[first:stop, 2 * len(bands) + column] = 1.0
    selection.flags.writeable = False
    return selection


@lru_cache(maxsize=16)
def _band_membership(n_fft: int, sample_rate: int, edges_hz: tuple[float, ...]) -> np.ndarray:
    """float32 ``(n_bins, n_bands)``: 1 where bin i lies in ``edges[j] <= f < edges[j + 1]``
    (read-only: it is shared)."""
    membership = np.zeros((1 + n_fft // 2, len(edges_hz) - 1), dtype=np.float32)
    for column, (low, high) in enumerate(itertools.pairwise(edges_hz)):
        first, stop = band_bins(n_fft, sample_rate, low, high)
        membership[first:stop, column] = 1.0
    membership.flags.writeable = False
    return membership


def _trajectory_block(
    signal: AnalysisSignal, segments: list[slice], averaging: np.ndarray
) -> np.ndarray:
    """Per segment: log spectral centroid (Hz) and log(flatness + 1e-4)."""
    # Per segment: the mean |X| and f |X| (their ratio is the centroid), and
    # the mean power of each flatness bin, (segments, bins).
    moments = magnitude_moment_sums(signal)[:2] @ averaging
    low, high = flatness_bins(signal)
    means = (averaging.T @ signal.power[low:high].T).astype(np.float64)
    top = means.max(axis=1, initial=0.0)
    np.maximum(means, (top * 1e-10 + 1e-30)[:, None], out=means)
    arithmetic = means.sum(axis=1)
    log_geometric = np.log(means, out=means).sum(axis=1)
    values = np.empty((len(segments), 2))
    magnitude = moments[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        values[:, 0] = np.log(np.maximum(moments[1] / magnitude, 20.0))
        values[:, 1] = np.log(
            np.exp(log_geometric / means.shape[1]) / arithmetic * means.shape[1] + 1e-4
        )
    # Empty segments average nothing: their columns of `averaging` are zero.
    values[~((magnitude > 0) & (top > 0))] = np.nan
    return np.asarray(values.ravel())


def _band_block(signal: AnalysisSignal, onset: int) -> np.ndarray:
    """Per band: log(1 + frames to fall 10/20/30 dB), peak level (dB), log(1 + peak delay)."""
    total_peak = float(signal.frame_energy.max())
    edges = (DECAY_BANDS_HZ[0][0], *(high for _, high in DECAY_BANDS_HZ))
    membership = _band_membership(signal.n_fft, signal.sample_rate, edges)
    energies = (signal.power.T @ membership).T.astype(np.float64)
    peak_index = np.argmax(energies, axis=1)
    peaks = energies[np.arange(energies.shape[0]), peak_index]
    levels_db = _relative_db(peaks, total_peak)
    fall = _frames_to_fall(energies, peak_index, peaks)
    values = np.empty((energies.shape[0], len(DECAY_LEVELS_DB) + 2))
    values[:, : len(DECAY_LEVELS_DB)] = np.log1p(fall)
    values[:, -2] = levels_db
    values[:, -1] = np.log1p(np.maximum(peak_index - onset, 0))
    silent = peaks <= 0  # the level stays defined (the floor); fall and delay do not
    values[silent, : len(DECAY_LEVELS_DB)] = np.nan
    values[silent, -1] = np.nan
    return np.asarray(values.ravel())


def _frames_to_fall(energies: np.ndarray, peak_index: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Fractional frames from each row's peak until it first falls below each of
    :data:`DECAY_LEVELS_DB` (dB re. the peak, floor -60 dB), linearly interpolated;
    the frames left after the peak when it never does.

    Args:
        energies: float64 ``(n_bands, n_frames)``.
        peak_index, peaks: each row's peak frame and value, ``(n_bands,)``.

    Returns:
        float64 ``(n_bands, len(DECAY_LEVELS_DB))``.
    """
    n_frames = energies.shape[1]
    safe_peaks = np.where(peaks > 0, peaks, 1.0)[:, None]
    levels = 10.0 * np.log10(np.maximum(energies, safe_peaks * _db_to_power(FLOOR_DB)) / safe_peaks)
    # Frames before the peak never count as fallen.
    levels[np.arange(n_frames)[None, :] < peak_index[:, None]] = 0.0
    thresholds = np.array(DECAY_LEVELS_DB)[:, None, None]
    below = levels[None, :, :] < thresholds
    first = np.argmax(below, axis=2)
    rows = np.arange(energies.shape[0])[None, :]
    before = levels[rows, np.maximum(first - 1, 0)]
    after = levels[rows, first]
    step = (before - thresholds[:, :, 0]) / np.maximum(before - after, 1e-9)
    fallen = first - 1 - peak_index[None, :] + step
    never = (n_frames - peak_index)[None, :].astype(np.float64)
    return np.asarray(np.where(below.any(axis=2), fallen, never).T)


# --- standardisation constants: generated by bench/embedding_recall.py --write-constants ---
# Per-dimension mean and standard deviation over the drum corpus (misc/ excluded).
# fmt: off
_FEATURE_MEAN = np.array(
    [
        -260.9, 28.99, 4.8028, 12.007, -1.1474, 2.384, -2.6197, -0.019752,
        -2.0105, -0.86977, -255.98, 28.147, 4.6972, 12.552, -0.55287, 2.8886,
        -2.1079, 0.472, -1.6215, -0.60766, -310.53, 22.465, 5.2964, 11.078,
        0.74715, 3.1638, -0.8344, 1.0146, -0.92322, -0.29059, -372.04, 19.017,
        5.4815, 9.2021, 1.07, 3.0202, 0.029591, 1.4311, 0.043583, 0.43244,
        -422.8, 13.474, 5.5023, 6.2851, 1.5822, 2.5987, 1.0229, 1.481,
        0.78366, 0.76686, -457.96, 3.868, 2.5271, 2.9064, 0.76686, 1.1352,
        0.70427, 0.93708, 0.68912, 0.78429, -6.459, -3.6568, -3.8127, -4.8575,
        -7.2588, -12.067, -20.315, -31.708, -45.221, -54.633, 27.115, 6.1109,
        13.006, 0.57436, 3.4068, -1.3524, 0.86043, -1.0915, -0.29416, 2.2237,
        1.925, 1.8541, 1.6696, 1.6317, 1.6424, 1.6664, 2.1037, 7.9639,
        -3.0775, 7.9049, -3.4934, 7.6949, -4.1101, 7.5216, -4.4547, 7.3977,
        -4.7973, 7.3753, -4.9286, 1.5101, 2.0898, 2.4129, -14.27, 0.68591,
        1.3637, 1.902, 2.2541, -11.711, 0.47107, 1.3727, 1.8534, 2.1809,
        -12.782, 0.46799, 1.3225, 1.7893, 2.1313, -14.512, 0.46064,
    ]
)
_FEATURE_STD = np.array(
    [
        64.614, 48.365, 26.386, 20.755, 14.894, 11.919, 10.538, 9.4692,
        8.6022, 7.6742, 69.388, 50.576, 27.453, 21.314, 15.906, 12.531,
        10.911, 9.6818, 8.8998, 7.998, 84.223, 50.216, 28.668, 20.437,
        17.744, 13.914, 12.323, 10.536, 9.8149, 8.7987, 84.154, 42.685,
        25.963, 18.029, 16.292, 12.868, 11.746, 9.8164, 9.2603, 8.4581,
        73.042, 33.009, 20.638, 14.464, 13.641, 10.026, 9.2213, 7.5999,
        7.1101, 6.583, 49.253, 19.468, 13.221, 9.0938, 9.3722, 6.7926,
        6.02, 4.9106, 4.5064, 4.1639, 4.5535, 3.9896, 4.182, 4.5597,
        6.3752, 9.5856, 14.193, 18.097, 17.401, 12.067, 48.357, 27.462,
        20.829, 16.187, 12.41, 10.953, 9.4325, 8.7711, 7.7171, 1.1155,
        1.0709, 0.8244, 0.65269, 0.57153, 0.61295, 0.59501, 0.70751, 0.70162,
        2.0721, 0.77851, 2.254, 1.0434, 2.8156, 1.1371, 3.0155, 1.115,
        3.0472, 1.0522, 2.9854, 0.56509, 0.69783, 0.74269, 14.685, 0.57725,
        0.54499, 0.68823, 0.73787, 10.807, 0.49662, 0.58471, 0.69972, 0.73198,
        9.3677, 0.52952, 0.56896, 0.68838, 0.72228, 13.697, 0.53067,
    ]
)
# fmt: on
# --- end of generated constants ---
