"""Training-time augmentation: copies of a drum hit as another machine might make it.

Drum machines differ in tuning (the sample rate a hit is played back at), in
their output stage (gain, EQ, saturation, noise floor) and in how a sample's
tail is cut. :func:`augment_hit` draws one such variation; the trainer adds a
few per corpus hit so the model learns what stays the same across machines.
The copies share their source's machine, so cross-validation never tests on a
copy of a hit it trained on.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import soxr

__all__ = ["AUGMENT_SEMITONES", "augment_hit"]

AUGMENT_SEMITONES = 2.5
"""Largest tuning shift, up or down (playback speed and pitch together)."""
GAIN_DB = (-12.0, 0.0)
TILT_DB = 6.0
TILT_CORNER_HZ = 1000.0
SATURATION_PROBABILITY = 0.3
NOISE_PROBABILITY = 0.5
NOISE_DB = (-75.0, -50.0)
TRUNCATE_PROBABILITY = 0.3
TRUNCATE_MIN_S = 0.08
FADE_S = (0.005, 0.05)


def augment_hit(samples: np.ndarray, *, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One randomly varied copy of a one-shot.

    In order: a tuning shift of up to :data:`AUGMENT_SEMITONES` semitones (soxr
    resampling, played back at the original rate: shorter and higher, or longer
    and lower), an EQ tilt of up to ±6 dB around 1 kHz, mild ``tanh``
    saturation (30 %), a white noise floor 50-75 dB below the peak (50 %), a
    cut of the tail with a 5-50 ms fade (30 %, hits longer than 80 ms), and a
    peak level 0 to -12 dB.

    Args:
        samples: float mono ``(n,)`` or ``(n, channels)`` in [-1, 1].
        sample_rate: in Hz, > 0.
        rng: the source of randomness (the same state gives the same copy).

    Returns:
        float32 ``(m,)`` or ``(m, channels)``; silence stays silence.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be > 0")
    audio = np.asarray(samples, dtype=np.float64)
    if audio.ndim not in (1, 2) or audio.shape[0] == 0:
        raise ValueError("samples must be a non-empty (n,) or (n, channels) array")
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        return audio.astype(np.float32)
    audio = _retune(audio, sample_rate, float(rng.uniform(-AUGMENT_SEMITONES, AUGMENT_SEMITONES)))
    audio = _tilt(audio, sample_rate, float(rng.uniform(-TILT_DB, TILT_DB)))
    if rng.random() < SATURATION_PROBABILITY:
        drive = float(rng.uniform(1.0, 3.0))
        audio = np.tanh(drive * audio / max(float(np.max(np.abs(audio))), 1e-12))
    if rng.random() < NOISE_PROBABILITY:
        level = float(np.max(np.abs(audio))) * 10.0 ** (float(rng.uniform(*NOISE_DB)) / 20.0)
        audio = audio + rng.normal(0.0, level, audio.shape)
    if rng.random() < TRUNCATE_PROBABILITY and audio.shape[0] > TRUNCATE_MIN_S * sample_rate:
        audio = _cut_tail(audio, sample_rate, rng)
    gain = 10.0 ** (float(rng.uniform(*GAIN_DB)) / 20.0)
    return np.asarray(audio * (gain / max(float(np.max(np.abs(audio))), 1e-12)), np.float32)


def _retune(audio: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Resample so that playing back at ``sample_rate`` shifts by ``semitones``."""
    ratio = 2.0 ** (semitones / 12.0)
    target = max(1, round(sample_rate / ratio))
    return np.asarray(soxr.resample(audio, sample_rate, target, quality="HQ"))


def _tilt(audio: np.ndarray, sample_rate: int, tilt_db: float) -> np.ndarray:
    """Lows by ``-tilt/2`` dB and highs by ``+tilt/2`` dB, split at 1 kHz (1st order)."""
    corner = min(TILT_CORNER_HZ, 0.45 * sample_rate)
    b, a = scipy.signal.butter(1, corner, btype="low", fs=sample_rate)
    low = scipy.signal.lfilter(b, a, audio, axis=0)
    high = audio - low
    half = tilt_db / 2.0
    return np.asarray(low * 10.0 ** (-half / 20.0) + high * 10.0 ** (half / 20.0))


def _cut_tail(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    keep_s = max(TRUNCATE_MIN_S, float(rng.uniform(0.3, 1.0)) * audio.shape[0] / sample_rate)
    keep = min(audio.shape[0], math.ceil(keep_s * sample_rate))
    fade = min(keep, max(1, round(float(rng.uniform(*FADE_S)) * sample_rate)))
    cut = audio[:keep].copy()
    ramp = np.linspace(1.0, 0.0, fade)
    cut[keep - fade :] *= ramp if cut.ndim == 1 else ramp[:, None]
    return cut
