"""Known-answer signals for the timbre descriptors and the embedding.

Every generator returns float32 samples at ``sample_rate`` (default 22050 Hz, the
analysis rate, so no resampling blurs the known answer) and is deterministic.
"""

from __future__ import annotations

import numpy as np

from ..signal import ANALYSIS_SAMPLE_RATE


def _check_duration(duration: float) -> None:
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")


def sine(
    freq: float,
    *,
    duration: float = 1.0,
    amplitude: float = 0.5,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A steady sine, shape ``(round(duration * sample_rate),)``, float32."""
    _check_duration(duration)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def faded(
    samples: np.ndarray, *, fade_ms: float = 20.0, sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray:
    """``samples`` (shape ``(n,)``) with raised-cosine fades in and out of ``fade_ms``.

    A hard start or stop splatters energy over the whole spectrum; real sounds
    (and spectral known-answer tests) fade.
    """
    n = min(round(fade_ms * sample_rate / 1000.0), samples.size // 2)
    gain = np.ones(samples.size, dtype=np.float32)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
        gain[:n] = ramp
        gain[-n:] = ramp[::-1]
    return (samples * gain).astype(np.float32)


def white_noise(
    *,
    duration: float = 1.0,
    amplitude: float = 0.25,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """Gaussian white noise with standard deviation ``amplitude``, float32."""
    _check_duration(duration)
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(round(duration * sample_rate))).astype(np.float32)


def impulse(
    *, duration: float = 0.5, at: float = 0.1, sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray:
    """Silence with a single full-scale sample at time ``at`` seconds."""
    _check_duration(duration)
    y = np.zeros(round(duration * sample_rate), dtype=np.float32)
    y[round(at * sample_rate)] = 1.0
    return y


def ramp_decay_envelope(
    *,
    attack_ms: float,
    decay_db_per_s: float,
    duration: float = 1.0,
    delay_ms: float = 50.0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """Amplitude envelope: silence, a linear 0→1 ramp, then an exponential decay.

    The ramp starts at ``delay_ms`` and peaks ``attack_ms`` later; afterwards the
    level falls by ``decay_db_per_s`` dB per second, so it is 20 dB below the
    peak exactly ``20 / decay_db_per_s`` seconds after the peak.

    Returns:
        float32, shape ``(round(duration * sample_rate),)``, values in ``[0, 1]``.
    """
    _check_duration(duration)
    if attack_ms < 0 or decay_db_per_s <= 0:
        raise ValueError("attack_ms must be >= 0 and decay_db_per_s > 0")
    t_ms = np.arange(round(duration * sample_rate)) * 1000.0 / sample_rate
    since_start = t_ms - delay_ms
    ramp = np.clip(since_start / attack_ms, 0.0, 1.0) if attack_ms > 0 else (since_start >= 0)
    since_peak = np.maximum(since_start - attack_ms, 0.0)
    decay = 10.0 ** (-decay_db_per_s * since_peak / 1000.0 / 20.0)
    return (ramp * decay).astype(np.float32)


def noise_burst(
    *,
    decay_db_per_s: float = 200.0,
    duration: float = 0.5,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """White noise with an instant attack and an exponential decay (a hat-like hit)."""
    env = ramp_decay_envelope(
        attack_ms=0.0,
        decay_db_per_s=decay_db_per_s,
        duration=duration,
        delay_ms=10.0,
        sample_rate=sample_rate,
    )
    noise = white_noise(duration=duration, amplitude=0.3, seed=seed, sample_rate=sample_rate)
    return np.asarray(env * noise, dtype=np.float32)


def tone_note(
    freq: float,
    *,
    decay_db_per_s: float = 30.0,
    duration: float = 0.5,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A sine note with a 5 ms attack and an exponential decay."""
    env = ramp_decay_envelope(
        attack_ms=5.0,
        decay_db_per_s=decay_db_per_s,
        duration=duration,
        delay_ms=10.0,
        sample_rate=sample_rate,
    )
    tone = sine(freq, duration=duration, amplitude=0.5, sample_rate=sample_rate)
    return np.asarray(env * tone, dtype=np.float32)
