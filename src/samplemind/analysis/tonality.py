"""Chroma and musical key, from the one spectrogram.

Chroma comes from spectral peaks, not from bins: each local maximum of a
frame's magnitude is located to a fraction of a bin (parabolic fit on log
magnitude), so even below 200 Hz, where a 2048-point FFT at 22050 Hz is
coarser than a semitone, a partial lands on its pitch class. A global tuning
offset is estimated from the peaks and removed. Key is the best match of the
chroma profile against 24 rotated major/minor key profiles; material with no
stable tonality (drums, noise, a single hit or note) has no key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .record import ValueSource
from .signal import AnalysisSignal

__all__ = [
    "PITCH_CLASSES",
    "KeyEstimate",
    "chroma",
    "chroma_profile",
    "estimate_key",
    "parse_key",
]

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
F_MIN = 50.0
F_MAX = 5000.0
PEAK_FLOOR_DB = 60.0
"""Peaks more than this far below the loudest bin of the file are ignored."""
PEAK_RELATIVE_DB = 40.0
"""Peaks more than this far below their frame's loudest bin are ignored."""

_BLUNT = 2.0
_SHARP = 5.0
"""Peaks at most ``_BLUNT`` times their neighbours two bins out are noise; at
least ``_SHARP`` times, partials."""

_CHROMA_ROLLOFF_HZ = 1000.0
_MIN_TONAL_FRACTION = 0.5
_MIN_PITCH_CLASSES = 3.5
_MAX_TOP_TWO_SHARE = 0.75
_MIN_KEY_CORRELATION = 0.65
_MIN_STABILITY = 0.85
_MIN_TONAL_SECONDS = 1.0
_WEAK_TONAL_FRACTION = 0.7
_WEAK_TONAL_SECONDS = 1.0
_HINT_ONLY_CONFIDENCE = 0.3

_CACHE_PEAKS = "tonality.peaks"
_CACHE_CHROMA = "tonality.chroma"


@dataclass(frozen=True)
class KeyEstimate:
    """A key such as ``"A minor"``, how sure the engine is, and where it came from."""

    key: str
    confidence: float
    source: ValueSource


@dataclass(frozen=True)
class _Peaks:
    """Spectral peaks of all frames, flattened: frame index, MIDI pitch, magnitude, sharpness."""

    frame: np.ndarray
    pitch: np.ndarray
    magnitude: np.ndarray
    sharpness: np.ndarray


def _spectral_peaks(signal: AnalysisSignal) -> _Peaks:
    """Local maxima of every frame in ``[F_MIN, F_MAX]``, located to a fraction of a bin."""
    cached = signal._cache.get(_CACHE_PEAKS)
    if isinstance(cached, _Peaks):
        return cached
    bin_hz = signal.sample_rate / signal.n_fft
    low = max(int(F_MIN / bin_hz), 2)
    high = min(int(F_MAX / bin_hz) + 1, signal.magnitude.shape[0] - 3)
    mag = signal.magnitude
    centre = mag[low:high]
    left, right = mag[low - 1 : high - 1], mag[low + 1 : high + 1]
    file_floor = float(mag.max()) * 10.0 ** (-PEAK_FLOOR_DB / 20.0)
    frame_floor = mag[low:high].max(axis=0) * 10.0 ** (-PEAK_RELATIVE_DB / 20.0)
    is_peak = (centre > left) & (centre >= right) & (centre > file_floor) & (centre > frame_floor)
    k, frame = np.nonzero(is_peak)
    k_abs = k + low
    log_left = np.log(mag[k_abs - 1, frame] + 1e-12)
    log_centre = np.log(mag[k_abs, frame] + 1e-12)
    log_right = np.log(mag[k_abs + 1, frame] + 1e-12)
    curvature = log_left - 2.0 * log_centre + log_right
    offset = np.where(
        curvature < 0, 0.5 * (log_left - log_right) / np.minimum(curvature, -1e-12), 0.0
    )
    freq = (k_abs + np.clip(offset, -0.5, 0.5)) * bin_hz
    pitch = 69.0 + 12.0 * np.log2(freq / 440.0)
    # A sinusoid's Hann main lobe falls 14 dB or more two bins out; noise peaks do not.
    far = np.maximum(mag[k_abs - 2, frame], mag[k_abs + 2, frame])
    sharpness = mag[k_abs, frame] / (far + 1e-12)
    peaks = _Peaks(
        frame=frame,
        pitch=pitch,
        magnitude=mag[k_abs, frame].astype(np.float64),
        sharpness=sharpness,
    )
    signal._cache[_CACHE_PEAKS] = peaks
    return peaks


def _peak_weights(peaks: _Peaks) -> np.ndarray:
    """Chroma weight of each peak: its magnitude, faded out for noise-like (blunt) peaks."""
    tonal = np.clip((peaks.sharpness - _BLUNT) / (_SHARP - _BLUNT), 0.0, 1.0)
    return peaks.magnitude * tonal


def _chroma_weights(peaks: _Peaks) -> np.ndarray:
    """Peak weights for chroma: upper partials (above ~1 kHz) fade, they blur pitch classes."""
    freq = 440.0 * 2.0 ** ((peaks.pitch - 69.0) / 12.0)
    return _peak_weights(peaks) / (1.0 + (freq / _CHROMA_ROLLOFF_HZ) ** 2)


def tuning_offset(signal: AnalysisSignal) -> float:
    """Deviation of the tonal peaks from A440 equal temperament, in semitones ``[-0.5, 0.5)``."""
    peaks = _spectral_peaks(signal)
    weights = _peak_weights(peaks)
    if weights.sum() <= 0:
        return 0.0
    angle = np.angle(np.sum(weights * np.exp(2j * np.pi * peaks.pitch)))
    return float(angle / (2.0 * np.pi))


def chroma(signal: AnalysisSignal) -> np.ndarray:
    """Pitch-class energy per frame.

    Each tonal spectral peak between ``F_MIN`` and ``F_MAX`` adds its magnitude
    to the pitch class nearest its tuning-corrected pitch; blunt (noise-like)
    peaks add nothing.

    Args:
        signal: the prepared signal.

    Returns:
        float32, shape ``(12, n_frames)``, row 0 = C … row 11 = B, in STFT
        magnitude units (not normalised). Cached in
        ``signal._cache["tonality.chroma"]``.
    """
    cached = signal._cache.get(_CACHE_CHROMA)
    if isinstance(cached, np.ndarray):
        return cached
    peaks = _spectral_peaks(signal)
    tuning = tuning_offset(signal)
    pitch_class = np.round(peaks.pitch - tuning).astype(np.int64) % 12
    n_frames = signal.n_frames
    flat = np.bincount(
        pitch_class * n_frames + peaks.frame,
        weights=_chroma_weights(peaks),
        minlength=12 * n_frames,
    )
    result = flat.reshape(12, n_frames).astype(np.float32)
    signal._cache[_CACHE_CHROMA] = result
    return result


def chroma_profile(signal: AnalysisSignal) -> np.ndarray:
    """The chroma summed over time and normalised to sum 1: float64 ``(12,)`` (zeros if silent)."""
    total = chroma(signal).sum(axis=1, dtype=np.float64)
    norm = total.sum()
    return total / norm if norm > 0 else total  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- key

_KRUMHANSL_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_KRUMHANSL_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
"""Krumhansl-Kessler probe-tone profiles (tonic first)."""


def _key_templates() -> np.ndarray:
    """The 24 key profiles, rows 0-11 major on C…B, 12-23 minor; each row zero-mean, unit norm."""
    rows = [np.roll(_KRUMHANSL_MAJOR, t) for t in range(12)]
    rows += [np.roll(_KRUMHANSL_MINOR, t) for t in range(12)]
    templates = np.asarray(rows, dtype=np.float64)
    templates -= templates.mean(axis=1, keepdims=True)
    return templates / np.linalg.norm(templates, axis=1, keepdims=True)  # type: ignore[no-any-return]


_TEMPLATES = _key_templates()


def key_correlations(profile: np.ndarray) -> np.ndarray:
    """Pearson correlation of a ``(12,)`` chroma profile with the 24 key profiles.

    The profile is square-root compressed first (a loud held note should not
    outvote the harmony). Returns float64 ``(24,)``: majors C…B, then minors.
    """
    if profile.shape != (12,):
        raise ValueError(f"expected a (12,) chroma profile, got shape {profile.shape}")
    x = np.sqrt(np.maximum(profile, 0.0))
    x = x - x.mean()
    norm = float(np.linalg.norm(x))
    return _TEMPLATES @ x / norm if norm > 0 else np.zeros(24)


def _key_label(index: int) -> str:
    return f"{PITCH_CLASSES[index % 12]} {'minor' if index >= 12 else 'major'}"


def _relative(index: int) -> int:
    """The relative minor of a major key and vice versa (C major <-> A minor)."""
    return 12 + (index + 9) % 12 if index < 12 else (index - 12 + 3) % 12


_KEY_NAME = re.compile(
    r"^\s*([A-Ga-g])\s*([#♯b♭]|sharp|flat)?\s*([Mm][Aa][Jj](?:[Oo][Rr])?|[Mm][Ii][Nn](?:[Oo][Rr])?|m|M)?\s*$"
)


def parse_key(text: str) -> str:
    """Normalise a key name such as ``"Am"``, ``"A minor"``, ``"F#maj"``, ``"Bb"``.

    A bare note is major. Flats are spelled as sharps.

    Returns:
        ``"A minor"``-style key.

    Raises:
        ValueError: ``text`` is not a key name.
    """
    match = _KEY_NAME.match(text)
    if match is None:
        raise ValueError(f"not a key name: {text!r}")
    letter, accidental, quality = match.groups()
    pitch_class = PITCH_CLASSES.index(letter.upper())
    if accidental in ("#", "♯", "sharp"):
        pitch_class += 1
    elif accidental in ("b", "♭", "flat"):
        pitch_class -= 1
    minor = quality is not None and (quality == "m" or quality.lower().startswith("min"))
    return f"{PITCH_CLASSES[pitch_class % 12]} {'minor' if minor else 'major'}"


def _key_index(key: str) -> int:
    tonic, mode = key.split()
    return PITCH_CLASSES.index(tonic) + (12 if mode == "minor" else 0)


@dataclass(frozen=True)
class _Tonality:
    """What the key decision rests on."""

    correlations: np.ndarray
    tonal_fraction: float
    pitch_classes: float
    top_two_share: float
    tonal_seconds: float
    stability: float
    profile: np.ndarray

    @property
    def best(self) -> int:
        return int(np.argmax(self.correlations))

    @property
    def has_key(self) -> bool:
        """Harmony, not a hit, a note or noise.

        It takes mostly tonal peaks, of steady pitch (drums glide and ring
        briefly), lasting a second or more, spread over several pitch classes
        (a note and its harmonics hold two or three, none dominating), in a
        profile that looks like a key.
        """
        return (
            self.tonal_fraction >= _MIN_TONAL_FRACTION
            and self.stability >= _MIN_STABILITY
            and self.tonal_seconds >= _MIN_TONAL_SECONDS
            and self.pitch_classes >= _MIN_PITCH_CLASSES
            and self.top_two_share <= _MAX_TOP_TWO_SHARE
            and float(self.correlations.max()) >= _MIN_KEY_CORRELATION
        )

    @property
    def weakly_tonal(self) -> bool:
        """Sustained pitched material (a note, a drone, a bass) with no key of its own."""
        return (
            self.tonal_fraction >= _WEAK_TONAL_FRACTION
            and self.tonal_seconds >= _WEAK_TONAL_SECONDS
        )


def _tonal_fraction(peaks: _Peaks) -> float:
    """Share of the peaks' magnitude that is tonal (sharp) rather than noise."""
    total = float(peaks.magnitude.sum())
    return float(_peak_weights(peaks).sum()) / total if total > 0 else 0.0


def _tonality(signal: AnalysisSignal) -> _Tonality:
    peaks = _spectral_peaks(signal)
    frames = chroma(signal)
    per_frame = frames.sum(axis=0, dtype=np.float64)
    profile = chroma_profile(signal)
    nonzero = profile[profile > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum()) if nonzero.size else 0.0
    tonal_frames = (
        int((per_frame >= 0.1 * per_frame.max()).sum())
        if per_frame.size and per_frame.max() > 0
        else 0
    )
    return _Tonality(
        correlations=key_correlations(profile),
        tonal_fraction=_tonal_fraction(peaks),
        pitch_classes=math.exp(entropy) if nonzero.size else 0.0,
        top_two_share=float(np.sort(profile)[-2:].sum()),
        tonal_seconds=tonal_frames / signal.frame_rate,
        stability=_pitch_stability(peaks, signal.n_frames),
        profile=profile,
    )


def _pitch_stability(peaks: _Peaks, n_frames: int) -> float:
    """Share of tonal peak weight whose pitch was already there (±1/4 semitone) a frame before.

    Sustained notes score near 1; kicks and toms, whose pitch sweeps and whose
    partials ring briefly, far less.
    """
    weights = _peak_weights(peaks)
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    slot = np.clip(np.round(peaks.pitch * 4.0).astype(np.int64), 1, 4 * 128)
    present = np.zeros((4 * 128 + 2, n_frames), dtype=bool)
    present[slot, peaks.frame] = True
    before = np.maximum(peaks.frame - 1, 0)
    held = present[slot - 1, before] | present[slot, before] | present[slot + 1, before]
    held &= peaks.frame > 0
    return float(weights[held].sum()) / total


def estimate_key(signal: AnalysisSignal, *, hint_key: str | None = None) -> KeyEstimate | None:
    """Estimate the musical key (24 major/minor keys).

    Rule for ``hint_key`` (a key parsed from the file name):

    * the audio has a key: if it is the hint or the hint's relative (C major /
      A minor share their notes, the audio cannot always tell them apart),
      the hint wins (``"audio+filename"``); otherwise the audio's key stands.
    * the audio is pitched and sustained but has no key of its own (a held
      note, a drone, an 808): the hint is reported with ``"filename"`` and low
      confidence, provided the audio's strongest pitch class belongs to the
      hint's scale.
    * anything else (drums, noise, a hit, silence): ``None``, hint or not; a
      file name is not evidence of tonality.

    Args:
        signal: the prepared signal.
        hint_key: e.g. ``"Am"``, ``"A minor"``, ``"F#maj"``, or ``None``.

    Returns:
        The estimate, or ``None`` for material without a key.

    Raises:
        ValueError: ``hint_key`` is not a key name.
    """
    hint = _key_index(parse_key(hint_key)) if hint_key is not None else None
    if not _long_enough_for_a_key(signal) or not _tonal_enough_for_a_key(signal):
        return None
    tonality = _tonality(signal)
    if tonality.has_key:
        best = tonality.best
        confidence = _key_confidence(tonality.correlations)
        if hint is not None and best in (hint, _relative(hint)):
            return KeyEstimate(_key_label(hint), min(1.0, confidence + 0.2), "audio+filename")
        return KeyEstimate(_key_label(best), confidence, "audio")
    if hint is not None and tonality.weakly_tonal and _in_scale(tonality.profile, hint):
        return KeyEstimate(_key_label(hint), _HINT_ONLY_CONFIDENCE, "filename")
    return None


def _long_enough_for_a_key(signal: AnalysisSignal) -> bool:
    """Whether the signal has enough frames to be tonal for the required time.

    ``_Tonality.tonal_seconds`` counts frames, so a signal with fewer frames
    than ``_MIN_TONAL_SECONDS`` and ``_WEAK_TONAL_SECONDS`` fails both
    :attr:`_Tonality.has_key` and :attr:`_Tonality.weakly_tonal` whatever its
    content: most one-shots are decided here without computing chroma.
    """
    longest = signal.n_frames / signal.frame_rate
    return longest >= min(_MIN_TONAL_SECONDS, _WEAK_TONAL_SECONDS)


def _tonal_enough_for_a_key(signal: AnalysisSignal) -> bool:
    """Whether enough of the spectral peaks are tonal for :attr:`_Tonality.has_key`
    or :attr:`_Tonality.weakly_tonal`: drums and noise are decided here,
    before chroma."""
    fraction = _tonal_fraction(_spectral_peaks(signal))
    return fraction >= min(_MIN_TONAL_FRACTION, _WEAK_TONAL_FRACTION)


def _key_confidence(correlations: np.ndarray) -> float:
    """Map the best correlation and its lead over the runner-up to ``[0, 1]``."""
    ordered = np.sort(correlations)
    fit = np.clip((ordered[-1] - _MIN_KEY_CORRELATION) / (1.0 - _MIN_KEY_CORRELATION), 0.0, 1.0)
    lead = np.clip((ordered[-1] - ordered[-2]) / 0.1, 0.0, 1.0)
    return round(float(0.3 + 0.4 * fit + 0.3 * lead), 3)


_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)


def _in_scale(profile: np.ndarray, key_index: int) -> bool:
    """Whether the strongest pitch class of ``profile`` is in the key's scale.

    Minor scales include the raised seventh (harmonic minor).
    """
    tonic = key_index % 12
    scale = _MINOR_SCALE if key_index >= 12 else _MAJOR_SCALE
    return (int(np.argmax(profile)) - tonic) % 12 in scale
