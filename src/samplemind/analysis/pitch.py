"""Pitch of pitched one-shots: 808s, basses, toms, synth notes.

Method, on ``signal.mono`` (22050 Hz, DC removed, first 6 s):

1. YIN (de Cheveigné & Kawahara 2002) on 2048-sample frames, hop 256 samples
   (coarser for sounds longer than 96 frames): the first dip of the
   cumulative-mean-normalised difference d'(τ) below 0.15 picks the period
   rather than a multiple of it; the minimum of the energy-normalised
   difference within 5 % of that dip, parabolically interpolated, locates it
   (d' itself is biased towards short lags in noise). Frames more than 40 dB
   below the loudest are not analysed.
2. A vote over the periodic frames: the pitch most frames agree on within
   ±50 cents wins, so the steady part of a sound outvotes its attack (an
   808's pitch drop, a tom's glide) and any octave-wrong frame. The median
   of the winners within ±10 cents of their mode is the frame estimate.
3. Refinement over the longest run of those frames: with the envelope
   divided out, the normalised autocorrelation peaks at doubling multiples
   of the period, each predicted from the last, measure it to a small
   fraction of a sample. It is kept if within 15 cents of the frame estimate.

The answer is ``None`` unless the sound is clearly periodic: at least 3
frames (a sound of about 120 ms or more) and 10 % of the active frames agree,
with median d' at most 0.15, and at least 30 % of the active frames lie on a
continuous pitch track (periodic, within a semitone of the next frame).
Noise, hi-hats, cymbals, claps, shakers and silence fail these tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from samplemind.analysis.signal import AnalysisSignal, frame_view

MIN_PITCH_HZ = 24.0
MAX_PITCH_HZ = 2200.0

_FRAME = 2048
_WINDOW = 1024  # YIN integration window; lags reach _FRAME - _WINDOW
_SEARCH_MARGIN = 1.05
_MIN_HOP = 256
_MAX_FRAMES = 96  # longer sounds get a coarser hop, keeping the cost bounded
_MAX_ANALYSIS_SECONDS = 6.0
_ACTIVE_RANGE_DB = 40.0
_SILENCE_MEAN_SQUARE = 1e-10  # -100 dBFS
_DIP_THRESHOLD = 0.15
_LAG_SEARCH = 0.05  # relative reach from a d' dip to the difference minimum
_VOICED_APERIODICITY = 0.25
_VOTE_CENTS = 50.0
_STEADY_CENTS = 10.0
_MAX_REFINE_CENTS = 15.0
_MIN_VOICED_FRAMES = 3
_MIN_CLUSTER_SHARE = 0.1
_MIN_CONTINUITY = 0.3
_MAX_GLIDE_CENTS = 100.0
_MAX_CLUSTER_APERIODICITY = 0.15
_MAX_REFINE_SAMPLES = 22050
_ENVELOPE_WINDOW = 512
_MIN_REFINE_CORRELATION = 0.8

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class PitchEstimate:
    """A pitch: ``hz``; ``confidence`` in [0, 1]; nearest ``note`` (A4 = 440 Hz)
    and the deviation from it in ``cents`` (-50 to +50)."""

    hz: float
    confidence: float
    note: str
    cents: float


@dataclass(frozen=True)
class _FrameTrack:
    """Per periodic frame: start sample, period (samples), aperiodicity."""

    starts: np.ndarray
    periods: np.ndarray
    aperiodicity: np.ndarray
    n_active: int
    hop: int


def hz_to_note(hz: float) -> str:
    """Nearest equal-tempered note name with sharps and scientific octave.

    ``hz_to_note(440.0) == "A4"``, ``hz_to_note(65.41) == "C2"``.
    """
    return _note_and_cents(hz)[0]


def _note_and_cents(hz: float) -> tuple[str, float]:
    if not (math.isfinite(hz) and hz > 0):
        raise ValueError(f"hz must be a positive finite frequency, got {hz}")
    midi = 69.0 + 12.0 * math.log2(hz / 440.0)
    nearest = round(midi)
    return f"{_NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}", 100.0 * (midi - nearest)


def estimate_pitch(signal: AnalysisSignal) -> PitchEstimate | None:
    """Steady-state pitch of a pitched one-shot, or ``None`` if it has none.

    Args:
        signal: the shared analysis signal; uses ``signal.mono`` (float32,
            shape ``(n,)``, ``signal.sample_rate`` Hz), at most its first
            ``_MAX_ANALYSIS_SECONDS`` seconds.

    Returns:
        :class:`PitchEstimate` between ``MIN_PITCH_HZ`` and ``MAX_PITCH_HZ``,
        or ``None`` for silence and unpitched sounds.
    """
    y = signal.mono[: int(_MAX_ANALYSIS_SECONDS * signal.sample_rate)].astype(np.float64)
    y -= y.mean() if y.size else 0.0  # a DC offset would swamp the float32 difference function
    if y.size < _FRAME:
        y = np.pad(y, (0, _FRAME - y.size))
    track = _yin_track(y, sample_rate=signal.sample_rate)
    if track is None:
        return None
    cluster = _vote(track)
    if cluster is None:
        return None
    steady = _steady_frames(track, cluster)
    period = float(np.median(track.periods[steady]))
    refined = _refine_period(_steady_segment(y, track.starts[steady], track.hop), period)
    if abs(1200.0 * math.log2(refined / period)) <= _MAX_REFINE_CENTS:
        period = refined
    hz = signal.sample_rate / period
    if not MIN_PITCH_HZ <= hz <= MAX_PITCH_HZ:
        return None
    note, cents = _note_and_cents(hz)
    return PitchEstimate(hz=hz, confidence=_confidence(track, cluster), note=note, cents=cents)


def _yin_track(y: np.ndarray, *, sample_rate: int) -> _FrameTrack | None:
    """YIN period and aperiodicity of every active, periodic frame of ``y``
    (float64, at least ``_FRAME`` samples).

    ``None`` for silence, and whenever :func:`_vote` is sure to reject the
    track: fewer than ``_MIN_VOICED_FRAMES`` active frames, or too few
    periodic frames for a continuous track (see :func:`_may_be_continuous`),
    which is decided on half of the frames.
    """
    n_frames = 1 + (y.size - _FRAME) // _MIN_HOP
    hop = _MIN_HOP * math.ceil(n_frames / _MAX_FRAMES)
    starts = np.arange(0, y.size - _FRAME + 1, hop)
    squares = _cumulative_squares(y)
    energy = squares[starts + _WINDOW] - squares[starts]
    loudest = float(energy.max())
    if loudest < _SILENCE_MEAN_SQUARE * _WINDOW:
        return None
    starts = starts[energy >= loudest * 10.0 ** (-_ACTIVE_RANGE_DB / 10.0)]
    if starts.size < _MIN_VOICED_FRAMES:
        return None
    # Search a little beyond the reported range so its ends are interior minima.
    min_lag = max(2, math.floor(sample_rate / (MAX_PITCH_HZ * _SEARCH_MARGIN)))
    max_lag = min(_FRAME - _WINDOW - 2, math.ceil(sample_rate * _SEARCH_MARGIN / MIN_PITCH_HZ))
    window_energy = (squares[_WINDOW:] - squares[:-_WINDOW]).astype(np.float32)
    y32 = y.astype(np.float32)
    # Every link of a continuous track joins an odd and an even frame, so the
    # smaller of the two sets alone can rule a pitch out.
    positions = starts // hop
    odd = positions % 2 == 1
    first = odd if 2 * int(odd.sum()) <= odd.size else ~odd
    first_dips = _frame_dips(y32, window_energy, starts[first], min_lag=min_lag, max_lag=max_lag)
    if not _may_be_continuous(positions[first][first_dips.periodic], positions):
        return None
    dips = _FrameDips.merge(
        first,
        first_dips,
        _frame_dips(y32, window_energy, starts[~first], min_lag=min_lag, max_lag=max_lag),
    )
    periodic = dips.periodic
    return _FrameTrack(
        starts=starts[periodic],
        periods=_refine_lags(dips.normalised, dips.lags[periodic], max_lag=max_lag),
        aperiodicity=dips.aperiodicity[periodic],
        n_active=int(starts.size),
        hop=hop,
    )


def _cumulative_squares(y: np.ndarray) -> np.ndarray:
    """``[0, y[0]**2, y[0]**2 + y[1]**2, ...]``, float64, shape ``(n + 1,)``."""
    squares = np.empty(y.size + 1)
    squares[0] = 0.0
    np.cumsum(np.square(y, dtype=np.float64), out=squares[1:])
    return squares


@dataclass(frozen=True)
class _FrameDips:
    """YIN of some frames: per frame the d' dip's lag and its value (the
    aperiodicity); per periodic frame the normalised difference, float32
    ``(n_periodic, n_lags)`` (see :func:`_normalised_difference`)."""

    lags: np.ndarray
    aperiodicity: np.ndarray
    normalised: np.ndarray

    @property
    def periodic(self) -> np.ndarray:
        return np.asarray(self.aperiodicity < _VOICED_APERIODICITY)

    @staticmethod
    def merge(mask: np.ndarray, chosen: _FrameDips, others: _FrameDips) -> _FrameDips:
        """The frames in their original order: ``chosen`` where ``mask``, ``others`` elsewhere."""
        lags = np.empty(mask.size, dtype=chosen.lags.dtype)
        lags[mask], lags[~mask] = chosen.lags, others.lags
        aperiodicity = np.empty(mask.size, dtype=chosen.aperiodicity.dtype)
        aperiodicity[mask], aperiodicity[~mask] = chosen.aperiodicity, others.aperiodicity
        periodic = aperiodicity < _VOICED_APERIODICITY
        from_chosen = mask[periodic]
        normalised = np.empty((from_chosen.size, chosen.normalised.shape[1]), dtype=np.float32)
        normalised[from_chosen], normalised[~from_chosen] = chosen.normalised, others.normalised
        return _FrameDips(lags, aperiodicity, normalised)


def _frame_dips(
    y: np.ndarray, window_energy: np.ndarray, starts: np.ndarray, *, min_lag: int, max_lag: int
) -> _FrameDips:
    """YIN of the frames at ``starts`` (any number, even none)."""
    n_lags = max_lag + 2
    if starts.size == 0:
        return _FrameDips(
            np.zeros(0, dtype=np.intp), np.zeros(0, np.float32), np.zeros((0, n_lags), np.float32)
        )
    cmnd, difference, energy_sum = _difference_functions(y, window_energy, starts, n_lags=n_lags)
    lags, aperiodicity = _first_dips(cmnd, min_lag=min_lag, max_lag=max_lag)
    periodic = aperiodicity < _VOICED_APERIODICITY
    normalised = _normalised_difference(difference[periodic], energy_sum[periodic])
    return _FrameDips(lags, aperiodicity, normalised)


def _may_be_continuous(periodic_positions: np.ndarray, positions: np.ndarray) -> bool:
    """Whether :func:`_continuity` can still reach ``_MIN_CONTINUITY``.

    ``positions`` are the active frames' indices on the hop grid (ascending);
    ``periodic_positions`` those of the frames of one parity known to be
    periodic. A link joins grid neighbours that are both periodic, so there
    are at most as many links as active neighbours of those frames.
    """
    active = np.zeros(int(positions[-1]) + 3, dtype=np.intp)
    active[positions + 1] = 1
    max_links = int(active[periodic_positions].sum() + active[periodic_positions + 2].sum())
    return (max_links + 1) / positions.size >= _MIN_CONTINUITY


def _difference_functions(
    y: np.ndarray, window_energy: np.ndarray, starts: np.ndarray, *, n_lags: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YIN's d'(τ) and the difference function for the frames at ``starts``.

    ``window_energy[i]`` is the energy of ``y[i : i + _WINDOW]``. Returns three
    float32 arrays of shape ``(n_frames, n_lags)``: the cumulative-mean-normalised
    difference d'(τ), which picks the period among its multiples, the
    difference d(τ) and ``E(0) + E(τ)`` (see :func:`_normalised_difference`).
    """
    # The frames and their zero-padded first windows, in one batch of transforms.
    count = starts.size
    batch = np.zeros((2 * count, _FRAME), dtype=y.dtype)
    batch[:count] = frame_view(y, frame_length=_FRAME)[starts]
    batch[count:, :_WINDOW] = batch[:count, :_WINDOW]
    transforms = scipy.fft.rfft(batch, axis=1)
    spectrum, product = transforms[:count], transforms[count:]
    np.conj(product, out=product)
    product *= spectrum
    correlation = scipy.fft.irfft(product, n=_FRAME, axis=1)[:, :n_lags]
    energy_sum = frame_view(window_energy, frame_length=n_lags)[starts]  # a copy
    energy_sum += energy_sum[:, :1].copy()
    # d(τ) = E(0) + E(τ) - 2 r(τ), written over the correlation (same values
    # as computing it in that order: both steps are exact or commutative).
    difference = correlation
    difference *= -2.0
    difference += energy_sum
    np.maximum(difference, 0.0, out=difference)
    running = np.cumsum(difference[:, 1:], axis=1)
    cmnd = np.empty(difference.shape, dtype=difference.dtype)
    cmnd[:, 0] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.multiply(difference[:, 1:], _lag_numbers(n_lags), out=cmnd[:, 1:])
        np.divide(cmnd[:, 1:], running, out=cmnd[:, 1:])
    # The running sums only grow: if the first is positive, no division failed.
    if not bool((running[:, 0] > 0).all()):
        _replace_non_finite(cmnd)
    return cmnd, difference, energy_sum


@lru_cache(maxsize=4)
def _lag_numbers(n_lags: int) -> np.ndarray:
    """float32 ``[1, 2, ..., n_lags - 1]`` (read-only: it is shared)."""
    lags = np.arange(1, n_lags, dtype=np.float32)
    lags.flags.writeable = False
    return lags


def _normalised_difference(difference: np.ndarray, energy_sum: np.ndarray) -> np.ndarray:
    """``d(τ) / (E(0) + E(τ))`` (1 where undefined), float32, the shape of the inputs.

    Its minimum locates the period without d'’s bias towards short lags when
    the frame is noisy.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised: np.ndarray = difference / energy_sum
    if not energy_sum.size or not float(energy_sum.min()) > 0:
        _replace_non_finite(normalised)
    return normalised


def _replace_non_finite(values: np.ndarray) -> None:
    """Set NaN and infinite entries (0/0, x/0) to 1, in place."""
    bad = ~np.isfinite(values)
    if bad.any():
        values[bad] = 1.0


def _first_dips(cmnd: np.ndarray, *, min_lag: int, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the first local minimum of d' below the threshold between the
    lags, else its global minimum there.

    Returns (integer lags, d' at them), each shape ``(n_frames,)``.
    """
    inner = cmnd[:, min_lag : max_lag + 1]
    index = inner.argmin(axis=1)
    # Only frames that dip below the threshold somewhere can have a first dip.
    dipping = np.flatnonzero(inner[np.arange(inner.shape[0]), index] < _DIP_THRESHOLD)
    if dipping.size:
        rows = cmnd[dipping]
        low = rows[:, min_lag : max_lag + 1]
        is_dip = (
            (low <= rows[:, min_lag - 1 : max_lag])
            & (low < rows[:, min_lag + 1 : max_lag + 2])
            & (low < _DIP_THRESHOLD)
        )
        index[dipping] = np.where(is_dip.any(axis=1), is_dip.argmax(axis=1), index[dipping])
    lags = index + min_lag
    return lags, cmnd[np.arange(cmnd.shape[0]), lags]


def _refine_lags(normalised: np.ndarray, lags: np.ndarray, *, max_lag: int) -> np.ndarray:
    """Fractional lag of the normalised difference's minimum within
    ``_LAG_SEARCH`` (relative) of each frame's d' dip, by parabolic interpolation."""
    reach = max(1, math.ceil(_LAG_SEARCH * max_lag))
    offsets = np.arange(-reach, reach + 1)
    candidates = lags[:, None] + offsets
    allowed = np.abs(offsets) <= np.maximum(1, np.round(_LAG_SEARCH * lags))[:, None]
    allowed &= (candidates >= 1) & (candidates < normalised.shape[1] - 1)
    rows = np.arange(lags.size)[:, None]
    values = np.where(
        allowed, normalised[rows, np.clip(candidates, 0, normalised.shape[1] - 1)], np.inf
    )
    best = candidates[np.arange(lags.size), values.argmin(axis=1)]
    flat_rows = np.arange(lags.size)
    left = normalised[flat_rows, best - 1].astype(np.float64)
    centre = normalised[flat_rows, best].astype(np.float64)
    right = normalised[flat_rows, best + 1].astype(np.float64)
    curvature = left - 2.0 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature > 0, 0.5 * (left - right) / curvature, 0.0)
    return np.asarray(best + np.clip(shift, -0.5, 0.5), dtype=np.float64)


def _vote(track: _FrameTrack) -> np.ndarray | None:
    """Indices of the periodic frames agreeing on the most-supported pitch, or
    None unless the sound is periodic enough: a clearly periodic cluster of
    frames, within a continuous pitch track covering enough of the sound."""
    if track.periods.size < _MIN_VOICED_FRAMES:
        return None
    cents = 1200.0 * np.log2(track.periods)
    cluster = _densest(cents, np.arange(cents.size), half_width=_VOTE_CENTS)
    if cluster.size < max(_MIN_VOICED_FRAMES, _MIN_CLUSTER_SHARE * track.n_active):
        return None
    if float(np.median(track.aperiodicity[cluster])) > _MAX_CLUSTER_APERIODICITY:
        return None
    if _continuity(track) < _MIN_CONTINUITY:
        return None
    return cluster


def _continuity(track: _FrameTrack) -> float:
    """Share of the active frames on a continuous pitch track: periodic and
    within a semitone of the next frame (a glide continues, noise jumps)."""
    cents = 1200.0 * np.log2(track.periods)
    linked = (np.diff(track.starts) == track.hop) & (np.abs(np.diff(cents)) < _MAX_GLIDE_CENTS)
    return (int(linked.sum()) + 1) / track.n_active


def _steady_frames(track: _FrameTrack, cluster: np.ndarray) -> np.ndarray:
    """The cluster frames closest to its mode: the steady part of the sound,
    without the tail of an attack glide that still falls within the vote."""
    cents = 1200.0 * np.log2(track.periods)
    steady = _densest(cents, cluster, half_width=_STEADY_CENTS)
    return steady if steady.size >= _MIN_VOICED_FRAMES else cluster


def _densest(cents: np.ndarray, candidates: np.ndarray, *, half_width: float) -> np.ndarray:
    """Candidates within ``half_width`` cents of the centre of the window of
    that half-width holding the most candidates (sorted by index)."""
    values = np.sort(cents[candidates])
    upper = np.searchsorted(values, values + half_width, side="right")
    lower = np.searchsorted(values, values - half_width, side="left")
    best = int(np.argmax(upper - lower))
    centre = float(np.median(values[lower[best] : upper[best]]))
    return np.asarray(candidates[np.abs(cents[candidates] - centre) <= half_width], dtype=np.intp)


def _steady_segment(y: np.ndarray, starts: np.ndarray, hop: int) -> np.ndarray:
    """The samples spanned by the longest run of consecutive steady frames."""
    runs = np.split(starts, np.flatnonzero(np.diff(starts) > hop) + 1)
    longest = max(runs, key=len)
    first = int(longest[0])
    last = min(int(longest[-1]) + _FRAME, y.size, first + _MAX_REFINE_SAMPLES)
    return y[first:last]


def _refine_period(segment: np.ndarray, period: float) -> float:
    """Refine ``period`` (samples) from the normalised autocorrelation peaks of
    ``segment`` at doubling multiples of it, each predicted from the last."""
    n = segment.size
    if 2 * period > n / 2:
        return period
    segment = _flatten_envelope(segment, window=max(_ENVELOPE_WINDOW, 2 * round(period)))
    size = scipy.fft.next_fast_len(2 * n, real=True)
    spectrum = scipy.fft.rfft(segment, n=size)
    autocorrelation = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size)[:n]
    squares = _cumulative_squares(segment)
    lags = np.arange(n)
    energy = squares[n - lags] * (squares[n] - squares[lags])
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(energy > 0, autocorrelation / np.sqrt(energy), 0.0)
    multiple = 1
    while 2 * multiple * period <= n / 2:
        multiple *= 2
        # Never search as far as the neighbouring period's peak.
        half_width = max(1, min(round(multiple * period * 0.003), int(period / 2) - 1))
        peak = _correlation_peak(normalised, multiple * period, half_width=half_width)
        if peak is None:
            break
        period = peak / multiple
    return period


def _flatten_envelope(segment: np.ndarray, *, window: int) -> np.ndarray:
    """Divide out the RMS envelope (moving window of ``window`` samples) so a
    decaying sound's loud start does not dominate the correlation: its pitch
    may still be gliding there."""
    squares = _cumulative_squares(segment)
    half = window // 2
    index = np.arange(segment.size)
    lo = np.maximum(index - half, 0)
    hi = np.minimum(index + half, segment.size)
    rms = np.sqrt(np.maximum(squares[hi] - squares[lo], 0.0) / (hi - lo))
    floor = 1e-3 * float(rms.max()) if rms.size else 0.0
    return np.asarray(segment / np.maximum(rms, max(floor, 1e-12)), dtype=np.float64)


def _correlation_peak(
    normalised: np.ndarray, expected_lag: float, *, half_width: int
) -> float | None:
    """Interpolated lag of the normalised autocorrelation maximum within
    ``half_width`` lags of ``expected_lag``; None if it is not a clear peak."""
    centre = round(expected_lag)
    first, last = centre - half_width - 1, centre + half_width + 1
    if first < 1 or last >= normalised.size:
        return None
    values = normalised[first : last + 1]
    best = int(np.argmax(values[1:-1])) + 1
    left, peak, right = values[best - 1], values[best], values[best + 1]
    if peak < _MIN_REFINE_CORRELATION or peak < max(left, right):
        return None
    curvature = left - 2.0 * peak + right
    shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return float(first + best + np.clip(shift, -0.5, 0.5))


def _confidence(track: _FrameTrack, cluster: np.ndarray) -> float:
    """Periodicity of the winning frames, scaled by how much of the sound
    agrees on their pitch and how much of it lies on a continuous track."""
    share = cluster.size / track.n_active
    periodicity = 1.0 - float(np.median(track.aperiodicity[cluster]))
    return float(np.clip(periodicity * math.sqrt(share * min(1.0, _continuity(track))), 0.0, 1.0))
