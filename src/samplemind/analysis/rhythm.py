"""Onsets, one-shot/loop detection and tempo, all from the one spectrogram.

The onset envelope is the spectral flux of log band magnitudes on 48 mel
bands of :attr:`AnalysisSignal.magnitude` (computed once, cached). Tempo:

1. the periodic levels of the envelope come from a comb over its
   autocorrelation; the fastest clear one that fits the loop length is the
   pulse (an 8th, a 16th or the beat);
2. it is folded into the octave below the tempo range and refined on the
   harmonic sum of the envelope's zero-padded power spectrum (about 0.1 %
   on a few bars: the frame rate alone, 43 fps, would give 2 %);
3. half or double time is settled as a producer names it, on the drums
   alone (mel bands above their running median: chords and bass removed):
   a snare back-beat falls on beats 2 and 4, otherwise accents on the
   off-beats make the faster level the beat;
4. exported loops hold a whole number of beats, so the tempo snaps to
   ``60 * n_beats / duration`` when it is that close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .record import Kind, ValueSource
from .signal import AnalysisSignal

__all__ = [
    "TempoEstimate",
    "band_flux",
    "detect_kind",
    "estimate_tempo",
    "onset_peaks",
    "onset_strength",
]

N_BANDS = 48
F_MIN = 20.0
F_MAX = 11025.0
FLOOR_DB = 60.0
"""Band energies this far below the loudest count as silence (a soft log floor)."""
KICK_MAX_HZ = 120.0
"""Bands centred below this hear the kick (its body is 40-100 Hz)."""
SNARE_BAND_HZ = (180.0, 5000.0)
"""Snares, claps and clicks live here; hats mostly above."""
TEMPO_RANGE = (59.0, 202.0)
"""Tempos a producer names (BPM); other metrical levels are folded into it."""
LOOP_BEAT_COUNTS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
"""Beats in a loop cut to whole bars of 4/4 or 3/4, or to half a bar: the
loop lengths a tempo snaps to."""
_BAR_BEAT_COUNTS = (2, *range(4, 68, 4))
"""The 4/4 ones, which decide between rival pulse levels."""
LOOP_MIN_DURATION = 1.0
"""Shortest loop, in seconds: one bar of 4/4 at 240 BPM."""
LOOP_MIN_ONSETS = 3
"""A loop has at least this many strong onsets (see :func:`detect_kind`)."""
_LOOP_ONSET_THRESHOLD = 0.1
"""Strong onsets rise at least this fraction of the strongest. Not more: the
first hit of a loop over sustained chords rises from digital silence, 4-7
times higher than the later hits, which rise from the chords."""
_LOOP_MIN_SPREAD = 0.5
_LOOP_MIN_SUSTAIN_DB = -15.0
SNAP_SECONDS = 0.06
"""A tempo snaps to a whole-beat loop length if it is off by at most this
much time over the loop (the audio estimate's own precision), relative
tolerance ``SNAP_SECONDS / duration`` clipped to [0.4 %, 2 %]."""

_CACHE_BANDS = "rhythm.band_flux"
_CACHE_ENV = "onset_env"
_CACHE_PERCUSSIVE = "rhythm.percussive"
_MEDIAN_FRAMES = 17
"""Frames of the running median that takes the chords out of the drum roles."""


@dataclass(frozen=True)
class TempoEstimate:
    """A tempo in beats per minute, how sure the engine is, and where it came from."""

    bpm: float
    confidence: float
    source: ValueSource


# --------------------------------------------------------------------------- onsets


@lru_cache(maxsize=8)
def _mel_filterbank(sample_rate: int, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangular mel bands, shape ``(N_BANDS, 1 + n_fft // 2)``, and their centres in Hz.

    Each band is at least two FFT bins wide so the lowest bands are not empty.
    """
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_edges = np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_BANDS + 2)
    edges = _mel_to_hz(mel_edges)
    bin_width = sample_rate / n_fft
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    lower = np.minimum(lower, centre - bin_width)
    upper = np.maximum(upper, centre + bin_width)
    rising = (freqs[np.newaxis, :] - lower[:, np.newaxis]) / (centre - lower)[:, np.newaxis]
    falling = (upper[:, np.newaxis] - freqs[np.newaxis, :]) / (upper - centre)[:, np.newaxis]
    weights = np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights, centre


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def band_flux(signal: AnalysisSignal) -> np.ndarray:
    """Half-wave rectified flux of log band energies, per band.

    Args:
        signal: the prepared signal.

    Returns:
        float32, shape ``(N_BANDS, n_frames)``, in natural-log units of band
        magnitude (scale invariant). Frame 0 is measured against silence, so a
        hit at the very start counts as an onset. Cached in
        ``signal._cache["rhythm.band_flux"]``.
    """
    cached = signal._cache.get(_CACHE_BANDS)
    if isinstance(cached, np.ndarray):
        return cached
    weights, _ = _mel_filterbank(signal.sample_rate, signal.n_fft)
    bands = weights @ signal.magnitude
    floor = max(float(bands.max()), 1e-10) * 10.0 ** (-FLOOR_DB / 20.0)
    log_bands = np.log1p(bands / floor)
    rise = np.diff(log_bands, axis=1, prepend=0.0)
    flux: np.ndarray = np.maximum(rise, 0.0).astype(np.float32, copy=False)
    signal._cache[_CACHE_BANDS] = flux
    return flux


def onset_strength(signal: AnalysisSignal) -> np.ndarray:
    """Spectral-flux onset envelope.

    Args:
        signal: the prepared signal.

    Returns:
        float32, shape ``(n_frames,)``, the mean over mel bands of the rectified
        increase of log band magnitude from one frame to the next; frame ``t``
        is at ``t * hop_length / sample_rate`` seconds. Cached in
        ``signal._cache["onset_env"]``.
    """
    cached = signal._cache.get(_CACHE_ENV)
    if isinstance(cached, np.ndarray):
        return cached
    envelope: np.ndarray = band_flux(signal).mean(axis=0)
    signal._cache[_CACHE_ENV] = envelope
    return envelope


def _band_group(signal: AnalysisSignal, low_hz: float, high_hz: float) -> np.ndarray:
    """Mean flux of the bands centred in ``[low_hz, high_hz)``, float64 ``(n_frames,)``."""
    _, centres = _mel_filterbank(signal.sample_rate, signal.n_fft)
    selected = (centres >= low_hz) & (centres < high_hz)
    return band_flux(signal)[selected].mean(axis=0, dtype=np.float64)  # type: ignore[no-any-return]


def onset_peaks(signal: AnalysisSignal, *, threshold: float = 0.2) -> np.ndarray:
    """Frames of the strong onsets: local maxima of :func:`onset_strength`.

    Args:
        signal: the prepared signal.
        threshold: keep peaks at least this fraction of the strongest, in
            ``(0, 1]``.

    Returns:
        int64 frame indices, ascending, shape ``(n_onsets,)``; peaks are at
        least 4 frames (about 90 ms) apart.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    envelope = onset_strength(signal)
    if envelope.size == 0 or not envelope.any():
        return np.zeros(0, dtype=np.int64)
    is_peak = (envelope == _max_filter(envelope, 3)) & (envelope > 0)
    is_peak &= envelope >= threshold * envelope.max()
    # A flat-topped peak has several equal frames: keep its first.
    is_peak[1:] &= ~(is_peak[:-1] & (envelope[1:] == envelope[:-1]))
    return np.nonzero(is_peak)[0].astype(np.int64)


# --------------------------------------------------------------------------- kind


def detect_kind(signal: AnalysisSignal) -> Kind:
    """Tell a loop from a one-shot.

    A loop is rhythmic material: at least ``LOOP_MIN_ONSETS`` strong onsets
    (onset flux at least 10 % of the strongest) spread over at least half of
    a file of ``LOOP_MIN_DURATION`` s or more, with hits in the second half
    within 15 dB of the loudest (a one-shot decays: a crash, a long 808, a
    gong). Everything else, even a long single note, is a one-shot.

    Args:
        signal: the prepared signal.

    Returns:
        ``"loop"`` or ``"one_shot"``.
    """
    if signal.duration < LOOP_MIN_DURATION:
        return "one_shot"
    onsets = onset_peaks(signal, threshold=_LOOP_ONSET_THRESHOLD)
    if onsets.size < LOOP_MIN_ONSETS:
        return "one_shot"
    n_frames = signal.n_frames
    if (onsets[-1] - onsets[0]) < _LOOP_MIN_SPREAD * n_frames:
        return "one_shot"
    energy = signal.frame_energy
    peak = float(energy.max())
    late_peak = float(energy[n_frames // 2 :].max())
    if peak <= 0 or late_peak < peak * 10.0 ** (_LOOP_MIN_SUSTAIN_DB / 10.0):
        return "one_shot"
    return "loop"


# --------------------------------------------------------------------------- tempo

_TEMPO_GRID = np.geomspace(30.0, 420.0, 600)
"""Coarse tempo grid (BPM), about 0.45 % apart; 420 BPM is an 8th at 210."""
_COARSE_MULTIPLES = 8
_TATUM_SALIENCE = 0.3
"""The pulse is the fastest comb peak at least this fraction of the best one."""
_HARMONICS = 8
_REFINE_SPANS = (0.04, 0.004)
_PAD_FACTOR = 16
_MAX_LEVELS = 6
_HEAD_FRAMES = 4
_KICK_PRESENCE = 0.1
"""A kick is present if its band peaks within 20 dB of the snare band."""
_SNARE_PRESENCE = 0.35
"""A snare hit rises at least this fraction of the loudest mid-band rise."""
_GHOST_LEVEL = 0.3
_KICK_LEVEL = 0.6
"""Kick-band rises above this fraction of the loudest kick are kicks."""
_ON_GRID = 0.6
_BACKBEAT_LEVEL = 0.35
_OFFBEAT_RATIO = 0.5
_MIN_TEMPO_DURATION = 1.0
_MIN_SALIENCE = 0.1
_CLEAR_SALIENCE = 0.5
_HINT_TOLERANCE = 0.03
_HINT_ONLY_CONFIDENCE = 0.3


def _tempo_envelope(signal: AnalysisSignal) -> np.ndarray:
    """Onset envelope with kick, mid and high band groups weighted equally.

    The plain mean over mel bands hears a kick in two bands and a hi-hat in
    ten; tempo needs all three drum roles. float64, shape ``(n_frames,)``.
    """
    low = _band_group(signal, 0.0, KICK_MAX_HZ)
    mid = _band_group(signal, KICK_MAX_HZ, 5000.0)
    high = _band_group(signal, 5000.0, F_MAX + 1.0)
    envelope = low + mid + high
    # The first hit rises from digital silence, later ones from the tails
    # before them; uncapped it outweighs the whole loop in the autocorrelation.
    head = _HEAD_FRAMES
    if envelope.size > 2 * head:
        envelope[:head] = np.minimum(envelope[:head], envelope[head:].max())
    return envelope  # type: ignore[no-any-return]


def _autocorrelation(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Unbiased autocorrelation of ``x`` minus its mean, 1 at lag 0.

    Returns the ``(n,)`` float64 array and the longest usable lag (half the
    length: beyond it too few products are averaged).
    """
    centred = x - x.mean()
    n = centred.size
    spectrum = np.fft.rfft(centred, 2 * n)
    acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2)[:n] / (n - np.arange(n))
    return (acf / acf[0] if acf[0] > 0 else np.zeros(n)), n // 2


def _comb(
    acf: np.ndarray, periods: np.ndarray, *, max_lag: float, max_multiples: int
) -> np.ndarray:
    """Mean autocorrelation at the lags ``k * period``, ``1 <= k <= max_multiples``.

    ``periods`` in frames, shape ``(m,)``; returns ``(m,)``, ``-1`` where no
    multiple is within ``max_lag``.
    """
    k = np.arange(1, max_multiples + 1)
    lags = periods[:, np.newaxis] * k
    valid = lags <= max_lag
    values = np.interp(lags, np.arange(acf.size), acf) * valid
    count = valid.sum(axis=1)
    return np.where(count > 0, values.sum(axis=1) / np.maximum(count, 1), -1.0)


def _pulse_levels(envelope: np.ndarray, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The clearly periodic levels of the envelope, fastest first: ``(bpms, saliences)``.

    Salience is the comb's mean autocorrelation in ``[-1, 1]`` (a one-shot
    scores near zero); a level is clear if it is a comb peak at least
    ``_TATUM_SALIENCE`` times the best. The fastest is usually an 8th or 16th
    note of the beat; a slower one may be the beat, the bar, or (in a sparse
    syncopated loop) a dotted level.
    """
    acf, max_lag = _autocorrelation(envelope)
    periods = 60.0 * frame_rate / _TEMPO_GRID
    salience = _comb(acf, periods, max_lag=max_lag, max_multiples=_COARSE_MULTIPLES)
    is_peak = np.zeros(salience.size, dtype=bool)
    is_peak[1:-1] = (salience[1:-1] >= salience[:-2]) & (salience[1:-1] > salience[2:])
    levels = np.nonzero(is_peak & (salience >= _TATUM_SALIENCE * salience.max()))[0]
    if levels.size == 0:
        levels = np.array([int(np.argmax(salience))])
    levels = levels[::-1]
    return _TEMPO_GRID[levels], salience[levels]


def _fits_loop_length(bpm: float, duration: float) -> bool:
    """Whether an octave of ``bpm`` in the tempo range puts a whole number of
    4/4 bars (or half a bar) in the loop."""
    low, high = TEMPO_RANGE
    octaves = bpm * 2.0 ** np.arange(-4, 4)
    octaves = octaves[(octaves >= 0.97 * low) & (octaves <= high)]
    exact = 60.0 * np.asarray(_BAR_BEAT_COUNTS, dtype=np.float64) / duration
    ratio = np.abs(np.log(octaves[:, np.newaxis] / exact))
    return bool((ratio <= math.log1p(_snap_tolerance(duration))).any())


def _harmonic_power(envelope: np.ndarray, frame_rate: float) -> tuple[np.ndarray, float]:
    """Power spectrum of the Hann-windowed envelope, zero padded, and its bin width (Hz)."""
    centred = (envelope - envelope.mean()) * np.hanning(envelope.size)
    n_fft = _PAD_FACTOR * envelope.size
    spectrum = np.fft.rfft(centred, n_fft)
    return spectrum.real**2 + spectrum.imag**2, frame_rate / n_fft


def _refine(power: np.ndarray, bin_hz: float, bpm: float) -> float:
    """Refine ``bpm`` to the maximum of the envelope's harmonic sum, sub-bin precise.

    The sum of the power at the first harmonics of ``bpm / 60`` Hz peaks at the
    pulse frequency; two searches (±4 %, then ±0.4 %) with parabolic
    interpolation reach about 0.1 % on a loop of a few bars.
    """
    # Onset envelopes carry little above a quarter of the frame rate.
    top_bin = 0.5 * (power.size - 1)
    for span in _REFINE_SPANS:
        grid = bpm * (1.0 + np.linspace(-span, span, 41))
        # The same harmonics at every grid point, or the sum jumps where one drops out.
        n_harmonics = int(np.clip(top_bin * bin_hz * 60.0 / grid[-1], 1, _HARMONICS))
        bins = grid[:, np.newaxis] / 60.0 * np.arange(1, n_harmonics + 1) / bin_hz
        values = np.interp(bins, np.arange(power.size), power).sum(axis=1)
        bpm = float(grid[int(np.argmax(values))] + _parabolic_offset(values) * (grid[1] - grid[0]))
    return bpm


def _parabolic_offset(values: np.ndarray) -> float:
    """Offset in ``(-0.5, 0.5)`` samples of the vertex through the maximum and its neighbours."""
    i = int(np.argmax(values))
    if i == 0 or i == values.size - 1:
        return 0.0
    left, centre, right = values[i - 1], values[i], values[i + 1]
    denominator = left - 2.0 * centre + right
    return float(0.5 * (left - right) / denominator) if denominator < 0 else 0.0


def _linear_group_flux(
    signal: AnalysisSignal, low_hz: float, high_hz: float
) -> tuple[np.ndarray, float]:
    """Rectified frame-to-frame rise of the percussive band magnitude in ``[low_hz, high_hz)``.

    Linear, not log: roles need levels (a snare's faint rumble must not look
    like a kick). Percussive (:func:`_percussive_bands`): a chord change or a
    bass note would otherwise pass for a snare or outweigh the kicks. Returns
    the envelope divided by its maximum, float64 ``(n_frames,)``, and the
    group's peak magnitude (for presence tests).
    """
    _, centres = _mel_filterbank(signal.sample_rate, signal.n_fft)
    selected = (centres >= low_hz) & (centres < high_hz)
    magnitude = _percussive_bands(signal)[selected].sum(axis=0, dtype=np.float64)
    peak = float(magnitude.max())
    if peak <= 0:
        return np.zeros_like(magnitude), 0.0
    rise = np.maximum(np.diff(magnitude / peak, prepend=0.0), 0.0)
    top = float(rise.max())
    return (rise / top if top > 0 else rise), peak


def _percussive_bands(signal: AnalysisSignal) -> np.ndarray:
    """Mel band magnitudes above their running median over time (the drums).

    A held or slowly decaying chord, or a bass note, is its own median over
    ``_MEDIAN_FRAMES`` frames (about 0.4 s); a drum hit is shorter than half of
    that, so it stands above the median and the chord does not (median
    filtering in time, the harmonic half of Fitzgerald's HPSS). float32,
    shape ``(N_BANDS, n_frames)``; cached in ``signal._cache["rhythm.percussive"]``.
    """
    cached = signal._cache.get(_CACHE_PERCUSSIVE)
    if isinstance(cached, np.ndarray):
        return cached
    weights, _ = _mel_filterbank(signal.sample_rate, signal.n_fft)
    bands = weights @ signal.magnitude
    radius = _MEDIAN_FRAMES // 2
    padded = np.pad(bands, ((0, 0), (radius, radius)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, _MEDIAN_FRAMES, axis=1)
    harmonic = np.partition(windows, radius, axis=2)[..., radius]
    percussive: np.ndarray = np.maximum(bands - harmonic, 0.0)
    signal._cache[_CACHE_PERCUSSIVE] = percussive
    return percussive


def _lag_value(acf: np.ndarray, lag: float, *, tolerance: float = 1.5) -> float:
    """Largest autocorrelation within ``tolerance`` frames of ``lag`` (``-1`` beyond the end)."""
    low, high = max(math.floor(lag - tolerance), 1), math.ceil(lag + tolerance)
    if low >= acf.size:
        return -1.0
    return float(acf[low : min(high, acf.size - 1) + 1].max())


def _prefers_double(signal: AnalysisSignal, slow_period: float) -> bool:
    """Whether the beat is ``slow_period / 2`` frames rather than ``slow_period``.

    With a kick and a snare, the snare's back-beat decides: it falls on beats 2
    and 4, so it repeats every two beats. Otherwise the accents decide: the
    faster level is the beat when its off-beats carry accents too (a click on
    every beat, a kick on every beat), not only hi-hats.
    """
    backbeat = _backbeat_vote(signal, slow_period)
    if backbeat is not None:
        return backbeat
    accents, _ = _linear_group_flux(signal, 0.0, SNARE_BAND_HZ[1])
    acf, _ = _autocorrelation(np.sqrt(_max_filter(accents, 1)))
    slow = _lag_value(acf, slow_period)
    return slow > 0 and _lag_value(acf, slow_period / 2) >= _OFFBEAT_RATIO * slow


def _backbeat_vote(signal: AnalysisSignal, slow_period: float) -> bool | None:
    """``True`` if a snare hits every ``slow_period`` frames between kicks (the
    faster level is the beat), ``False`` if every ``2 * slow_period``, ``None``
    when there is no kick-and-snare pattern to judge by."""
    kick, kick_peak = _linear_group_flux(signal, 0.0, KICK_MAX_HZ)
    mid, mid_peak = _linear_group_flux(signal, *SNARE_BAND_HZ)
    if kick_peak < _KICK_PRESENCE * mid_peak:
        return None
    # Where the kick rises, the mid band is the kick's click or body: not a snare.
    # A snare leaks into the kick band too, but far less than a kick.
    not_kick = np.clip((_KICK_LEVEL - _max_filter(kick, 1)) / 0.25, 0.0, 1.0)
    snare = mid * not_kick
    loudest = float(snare.max())
    if loudest < _SNARE_PRESENCE:
        return None
    snare = np.maximum(snare - _GHOST_LEVEL * loudest, 0.0)  # ghost notes keep no time
    if _on_grid_fraction(snare, _max_filter(mid, 1), slow_period / 2) < _ON_GRID:
        return None  # off-beat percussion, not a back-beat
    acf, _ = _autocorrelation(_max_filter(snare, 1))
    if _lag_value(acf, slow_period / 2) >= _BACKBEAT_LEVEL:
        return None  # a snare on every beat is a pulse, not a back-beat
    if _lag_value(acf, slow_period) >= _BACKBEAT_LEVEL:
        return True
    if _lag_value(acf, 2 * slow_period) >= _BACKBEAT_LEVEL:
        return False
    return None


def _on_grid_fraction(events: np.ndarray, reference: np.ndarray, period: float) -> float:
    """Share of ``events`` peak mass within 1.5 frames of the beat grid of ``period`` frames.

    The grid's phase is where ``reference`` (the accents) lines up best.
    """
    phases = np.arange(0.0, period, 0.5)
    grid = phases[:, np.newaxis] + period * np.arange(int(reference.size / period) + 1)
    folded = np.interp(grid, np.arange(reference.size), reference, right=0.0).sum(axis=1)
    phase = phases[int(np.argmax(folded))]
    is_peak = (events > 0) & (events >= np.roll(events, 1)) & (events >= np.roll(events, -1))
    times = np.nonzero(is_peak)[0]
    total = float(events[times].sum())
    if total <= 0:
        return 0.0
    offset = np.abs((times - phase + period / 2) % period - period / 2)
    return float(events[times][offset <= 1.5].sum()) / total


def _max_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """Running maximum over ``2 * radius + 1`` samples, same shape as ``x``."""
    padded = np.pad(x, radius, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).max(axis=1)  # type: ignore[no-any-return]


def _slow_octave(bpm: float) -> float:
    """``bpm * 2**k`` folded into the octave that starts just below the tempo range."""
    low = TEMPO_RANGE[0] * 0.97
    return bpm * 2.0 ** math.floor(math.log2(low * 2.0 / bpm))


def _loop_tempos(duration: float) -> np.ndarray:
    """Exact tempos (BPM) of a loop of ``duration`` s holding :data:`LOOP_BEAT_COUNTS` beats."""
    return 60.0 * np.asarray(LOOP_BEAT_COUNTS, dtype=np.float64) / duration


def _snap_tolerance(duration: float) -> float:
    return min(max(SNAP_SECONDS / duration, 0.004), 0.02)


def _snap_to_loop_length(bpm: float, duration: float) -> float | None:
    """The exact tempo of a whole-beat loop of ``duration`` s, if ``bpm`` is that close to it."""
    exact = _loop_tempos(duration)
    nearest = float(exact[int(np.argmin(np.abs(np.log(exact / bpm))))])
    return nearest if abs(nearest / bpm - 1.0) <= _snap_tolerance(duration) else None


def _choose_level(
    levels: np.ndarray, saliences: np.ndarray, power: np.ndarray, bin_hz: float, duration: float
) -> tuple[float, float]:
    """The slow octave of the fastest level that fits the loop length in whole bars.

    Loops are cut to whole bars, so a level that does not fit is a syncopation
    (a dotted rhythm read as the pulse) unless no level fits at all (a loop
    with a tail or an odd cut): then the fastest level. Each level is folded
    into the octave just below the tempo range before it is refined, where
    enough harmonics fit under the envelope's useful bandwidth. Returns the
    refined ``(bpm, salience)``.
    """
    refined = [_refine(power, bin_hz, _slow_octave(float(bpm))) for bpm in levels[:_MAX_LEVELS]]
    for bpm, salience in zip(refined, saliences, strict=False):
        if _fits_loop_length(bpm, duration):
            return bpm, float(salience)
    return refined[0], float(saliences[0])


def _audio_tempo(signal: AnalysisSignal) -> tuple[float, float, bool] | None:
    """``(bpm, salience, snapped)`` from the audio alone, or ``None`` without a pulse."""
    if signal.duration < _MIN_TEMPO_DURATION:
        return None
    envelope = _tempo_envelope(signal)
    if not envelope.any():
        return None
    levels, saliences = _pulse_levels(envelope, signal.frame_rate)
    power, bin_hz = _harmonic_power(envelope, signal.frame_rate)
    slow, salience = _choose_level(levels, saliences, power, bin_hz, signal.duration)
    if salience < _MIN_SALIENCE:
        return None
    low, high = TEMPO_RANGE
    slow_period = 60.0 * signal.frame_rate / slow
    double = slow < low or (2.0 * slow <= high and _prefers_double(signal, slow_period))
    bpm = 2.0 * slow if double else slow
    exact = _snap_to_loop_length(bpm, signal.duration)
    return (exact, salience, True) if exact is not None else (bpm, salience, False)


def estimate_tempo(
    signal: AnalysisSignal, *, hint_bpm: float | None = None
) -> TempoEstimate | None:
    """Estimate the tempo of a loop, in the octave a producer would name.

    The audio decides: onset periodicity (autocorrelation comb, refined on the
    envelope's harmonic spectrum), the back-beat or accents for half/double
    time, and the loop length, which snaps the result to an exact whole number
    of beats. A filename tempo ``hint_bpm`` settles the octave when the audio
    agrees with it, once, twice or half; it is reported alone (low confidence)
    when the audio has no pulse, and ignored when the audio clearly disagrees.

    Args:
        signal: the prepared signal.
        hint_bpm: tempo parsed from the file name, in BPM (``> 0``), or ``None``.

    Returns:
        The estimate, or ``None`` when there is no pulse (a one-shot, a drone)
        and no hint. ``bpm`` is within about 1 % of the truth on whole-bar
        loops between 60 and 200 BPM.
    """
    if hint_bpm is not None and not (math.isfinite(hint_bpm) and hint_bpm > 0):
        raise ValueError(f"hint_bpm must be a positive number of BPM, got {hint_bpm}")
    audio = _audio_tempo(signal) if detect_kind(signal) == "loop" else None
    if hint_bpm is None:
        return None if audio is None else TempoEstimate(audio[0], _confidence(*audio[1:]), "audio")
    if audio is None:
        return TempoEstimate(float(hint_bpm), _HINT_ONLY_CONFIDENCE, "filename")
    bpm, salience, snapped = audio
    confidence = _confidence(salience, snapped)
    for factor in (1.0, 2.0, 0.5):
        if abs(bpm / (hint_bpm * factor) - 1.0) <= _HINT_TOLERANCE:
            # A whole-beat loop length is exact; otherwise the name is.
            named = bpm / factor if snapped else float(hint_bpm)
            return TempoEstimate(named, min(1.0, confidence + 0.2), "audio+filename")
    return TempoEstimate(bpm, confidence, "audio")


def _confidence(salience: float, snapped: bool) -> float:
    """Map the pulse salience (and an exact loop length) to ``[0, 1]``."""
    clarity = min(max(salience / _CLEAR_SALIENCE, 0.0), 1.0)
    return round(0.3 + 0.5 * clarity + (0.2 if snapped else 0.0), 3)
