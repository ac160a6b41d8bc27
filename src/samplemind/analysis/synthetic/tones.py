"""Synthetic tones with known loudness, peak and pitch.

Generated, never stored; used by the known-answer tests and ``bench/``.
Every generator returns float32 samples of shape ``(channels, n)``, full scale
±1, and is deterministic (noise takes a ``seed``). Levels in dBFS are sine
*peak* levels, as in EBU Tech 3341 ("a 1 kHz sine at -23 dBFS" on both
channels of a stereo file reads -23.0 LUFS).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal

# EBU Tech 3341 (2016) integrated-loudness cases 1-5: stereo 1 kHz sine
# segments as (level dBFS, seconds) and the expected integrated loudness.
TECH3341_CASES: dict[int, tuple[tuple[tuple[float, float], ...], float]] = {
    1: (((-23.0, 20.0),), -23.0),
    2: (((-33.0, 20.0),), -33.0),
    3: (((-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)), -23.0),
    4: (((-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)), -23.0),
    5: (((-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)), -23.0),
}
# Tech 3341 case 6: 5.0 channels (L R C Ls Rs) of a 1 kHz sine; reads -23.0 LUFS.
TECH3341_CASE6_LEVELS_DBFS = (-28.0, -28.0, -24.0, -30.0, -30.0)

# Ratios of an ideal circular membrane's first modes to its fundamental.
_MEMBRANE_MODES = (1.594, 2.136, 2.296, 2.653)
# Frequencies (Hz) of the six square oscillators of an 808-style hi-hat.
_METAL_OSCILLATORS_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def db_to_amplitude(level_dbfs: float) -> float:
    """Peak amplitude of a sine at ``level_dbfs``."""
    return float(10.0 ** (level_dbfs / 20.0))


def sine(
    frequency: float,
    *,
    duration: float,
    sample_rate: int,
    level_dbfs: float = -6.0,
    phase: float = 0.0,
    channels: int = 1,
    fade: float = 0.0,
) -> np.ndarray:
    """A steady sine, the same on every channel.

    Args:
        frequency: Hz, in ``(0, sample_rate / 2)``.
        duration: seconds.
        sample_rate: Hz.
        level_dbfs: peak level.
        phase: starting phase in radians (``sin(2π f t + phase)``).
        channels: number of identical channels.
        fade: seconds of raised-cosine fade in and out (0 starts and stops
            abruptly, which makes a band-limited reconstruction overshoot).

    Returns:
        float32, shape ``(channels, round(duration * sample_rate))``.
    """
    _check_common(duration=duration, sample_rate=sample_rate, channels=channels)
    if not 0 < frequency < sample_rate / 2:
        raise ValueError(f"frequency must be in (0, {sample_rate / 2}), got {frequency}")
    t = np.arange(round(duration * sample_rate)) / sample_rate
    wave = db_to_amplitude(level_dbfs) * np.sin(2 * np.pi * frequency * t + phase)
    ramp = min(round(fade * sample_rate), t.size // 2)
    if ramp > 0:
        shape = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        wave[:ramp] *= shape
        wave[t.size - ramp :] *= shape[::-1]
    return _to_channels(wave, channels)


def tone_sequence(
    segments: Sequence[tuple[float, float]],
    *,
    sample_rate: int,
    frequency: float = 1000.0,
    channels: int = 2,
) -> np.ndarray:
    """A phase-continuous sine whose peak level steps through ``segments``.

    Args:
        segments: ``(level dBFS, seconds)`` pairs, played in order.
        sample_rate: Hz.
        frequency: Hz.
        channels: number of identical channels.

    Returns:
        float32, shape ``(channels, n)``.
    """
    if not segments:
        raise ValueError("segments must not be empty")
    _check_common(duration=1.0, sample_rate=sample_rate, channels=channels)
    lengths = [round(seconds * sample_rate) for _, seconds in segments]
    gains = np.concatenate(
        [
            np.full(n, db_to_amplitude(level))
            for (level, _), n in zip(segments, lengths, strict=True)
        ]
    )
    t = np.arange(gains.size) / sample_rate
    return _to_channels(gains * np.sin(2 * np.pi * frequency * t), channels)


def tech3341_case(case: int, *, sample_rate: int = 48000) -> tuple[np.ndarray, float]:
    """EBU Tech 3341 integrated-loudness case 1-6: ``(samples, expected LUFS)``."""
    if case == 6:
        t = np.arange(20 * sample_rate) / sample_rate
        wave = np.sin(2 * np.pi * 1000.0 * t)
        gains = np.array([db_to_amplitude(level) for level in TECH3341_CASE6_LEVELS_DBFS])
        return (gains[:, np.newaxis] * wave).astype(np.float32), -23.0
    if case not in TECH3341_CASES:
        raise ValueError(f"case must be 1-6, got {case}")
    segments, expected = TECH3341_CASES[case]
    return tone_sequence(segments, sample_rate=sample_rate), expected


def sawtooth(
    frequency: float,
    *,
    duration: float,
    sample_rate: int,
    level_dbfs: float = -6.0,
    max_harmonics: int = 64,
    decay: float | None = None,
) -> np.ndarray:
    """A band-limited sawtooth (additive, harmonics below 0.45 × the sample rate).

    Args:
        frequency: fundamental in Hz.
        duration: seconds.
        sample_rate: Hz.
        level_dbfs: peak level of the fundamental's sine.
        max_harmonics: most harmonics summed (each at amplitude 1/k).
        decay: exponential amplitude time constant in seconds, or None for steady.

    Returns:
        float32, shape ``(1, n)``.
    """
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    n_harmonics = max(1, min(max_harmonics, int(0.45 * sample_rate / frequency)))
    wave = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        wave += np.sin(2 * np.pi * k * frequency * t) / k
    wave *= db_to_amplitude(level_dbfs) / np.max(np.abs(wave))
    if decay is not None:
        wave *= np.exp(-t / decay)
    return _to_channels(wave, 1)


def bass_808(
    frequency: float,
    *,
    sample_rate: int,
    duration: float = 1.5,
    drop_semitones: float = 12.0,
    drop_time: float = 0.02,
    decay: float = 0.6,
    drive: float = 0.0,
    level_dbfs: float = -3.0,
) -> np.ndarray:
    """An 808-style bass: a sine whose pitch falls to ``frequency`` and then holds.

    The pitch starts ``drop_semitones`` above ``frequency`` and falls
    exponentially with time constant ``drop_time``; the amplitude decays
    exponentially with time constant ``decay`` after a 2 ms attack. ``drive``
    > 0 soft-clips with ``tanh`` (odd harmonics, relatively weaker fundamental).

    Returns:
        float32, shape ``(1, n)``; its steady-state pitch is ``frequency``.
    """
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    ratio = 2.0 ** (drop_semitones / 12.0)
    instantaneous = frequency * (1.0 + (ratio - 1.0) * np.exp(-t / drop_time))
    phase = 2 * np.pi * np.cumsum(instantaneous) / sample_rate
    envelope = np.minimum(t / 0.002, 1.0) * np.exp(-t / decay)
    wave = np.sin(phase) * envelope
    if drive > 0:
        wave = np.tanh(drive * wave) / np.tanh(drive)
    return _to_channels(wave * db_to_amplitude(level_dbfs), 1)


def tom(
    frequency: float,
    *,
    sample_rate: int,
    duration: float = 0.8,
    glide_semitones: float = 2.0,
    glide_time: float = 0.05,
    decay: float = 0.25,
    noise_level: float = 0.3,
    seed: int = 0,
    level_dbfs: float = -3.0,
) -> np.ndarray:
    """A pitched tom: a membrane fundamental gliding down to ``frequency``.

    Adds the membrane's inharmonic modes (decaying faster) and a 10 ms noise
    burst at the stroke. Steady-state pitch: ``frequency``.

    Returns:
        float32, shape ``(1, n)``.
    """
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    ratio = 2.0 ** (glide_semitones / 12.0)
    glide = 1.0 + (ratio - 1.0) * np.exp(-t / glide_time)
    phase = 2 * np.pi * np.cumsum(frequency * glide) / sample_rate
    wave = np.sin(phase) * np.exp(-t / decay)
    for index, mode in enumerate(_MEMBRANE_MODES):
        wave += 0.35 / (index + 1) * np.sin(mode * phase) * np.exp(-t / (decay / (2 + index)))
    rng = np.random.default_rng(seed)
    wave += noise_level * rng.standard_normal(t.size) * np.exp(-t / 0.01)
    wave *= db_to_amplitude(level_dbfs) / np.max(np.abs(wave))
    return _to_channels(wave, 1)


def white_noise(
    *, duration: float, sample_rate: int, level_dbfs: float = -12.0, seed: int = 0
) -> np.ndarray:
    """Gaussian white noise with RMS ``level_dbfs``, shape ``(1, n)``."""
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    rng = np.random.default_rng(seed)
    wave = rng.standard_normal(round(duration * sample_rate)) * db_to_amplitude(level_dbfs)
    return _to_channels(wave, 1)


def pink_noise(
    *, duration: float, sample_rate: int, level_dbfs: float = -12.0, seed: int = 0
) -> np.ndarray:
    """Pink (1/f power) noise with RMS ``level_dbfs``, shape ``(1, n)``."""
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    n = round(duration * sample_rate)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    wave = np.fft.irfft(spectrum, n)
    wave *= db_to_amplitude(level_dbfs) / np.sqrt(np.mean(wave**2))
    return _to_channels(wave, 1)


def hihat(
    *, sample_rate: int, duration: float = 0.3, decay: float = 0.05, seed: int = 0
) -> np.ndarray:
    """An 808-style hi-hat: six detuned squares plus noise, high-passed at 6 kHz."""
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in _METAL_OSCILLATORS_HZ)
    rng = np.random.default_rng(seed)
    raw = np.asarray(metal) / 6.0 + rng.standard_normal(t.size)
    cutoff = min(6000.0, 0.4 * sample_rate)
    sos = scipy.signal.butter(4, cutoff, btype="highpass", fs=sample_rate, output="sos")
    wave = scipy.signal.sosfilt(sos, raw) * np.exp(-t / decay)
    return _normalised(wave, -6.0)


def snare(
    *, sample_rate: int, duration: float = 0.4, body_hz: float = 185.0, seed: int = 0
) -> np.ndarray:
    """A snare: a short two-mode body under louder, longer band-passed noise."""
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    body = (np.sin(2 * np.pi * body_hz * t) + 0.6 * np.sin(2 * np.pi * 1.8 * body_hz * t)) * (
        np.exp(-t / 0.03)
    )
    rng = np.random.default_rng(seed)
    high = min(9000.0, 0.45 * sample_rate)
    sos = scipy.signal.butter(2, (1500.0, high), btype="bandpass", fs=sample_rate, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(t.size)) * np.exp(-t / 0.12)
    noise *= 2.0 / np.max(np.abs(noise))
    return _normalised(0.5 * body + noise, -6.0)


def clap(*, sample_rate: int, duration: float = 0.5, seed: int = 0) -> np.ndarray:
    """A hand clap: four band-passed noise bursts 10 ms apart and a decaying tail."""
    _check_common(duration=duration, sample_rate=sample_rate, channels=1)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    envelope = np.exp(-t / 0.15) * 0.4
    for burst in range(4):
        start = 0.01 * burst
        envelope += np.where(t >= start, np.exp(-(t - start) / 0.004), 0.0)
    rng = np.random.default_rng(seed)
    high = min(3000.0, 0.45 * sample_rate)
    sos = scipy.signal.butter(2, (700.0, high), btype="bandpass", fs=sample_rate, output="sos")
    return _normalised(scipy.signal.sosfilt(sos, rng.standard_normal(t.size)) * envelope, -6.0)


def _normalised(wave: np.ndarray, level_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(wave)))
    return _to_channels(wave * (db_to_amplitude(level_dbfs) / peak if peak > 0 else 0.0), 1)


def _to_channels(wave: np.ndarray, channels: int) -> np.ndarray:
    return np.repeat(wave[np.newaxis, :].astype(np.float32), channels, axis=0)


def _check_common(*, duration: float, sample_rate: int, channels: int) -> None:
    if duration < 0:
        raise ValueError(f"duration must be >= 0, got {duration}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
