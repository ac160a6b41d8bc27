"""Training-time augmentation: known answers on synthetic tones."""

from __future__ import annotations

import numpy as np
import pytest

from samplemind.analysis.augment import AUGMENT_SEMITONES, GAIN_DB, augment_hit

RATE = 44100


def sine(hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.asarray(0.8 * np.sin(2 * np.pi * hz * t), dtype=np.float32)


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size), n=1 << 18))
    return float(np.fft.rfftfreq(1 << 18, d=1.0 / RATE)[np.argmax(spectrum)])


def test_the_same_generator_state_gives_the_same_copy() -> None:
    tone = sine(440.0)
    first = augment_hit(tone, sample_rate=RATE, rng=np.random.default_rng(7))
    second = augment_hit(tone, sample_rate=RATE, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)
    other = augment_hit(tone, sample_rate=RATE, rng=np.random.default_rng(8))
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_copies_are_retuned_within_the_range_and_levelled() -> None:
    tone = sine(440.0)
    low, high = 440.0 * 2 ** (-AUGMENT_SEMITONES / 12), 440.0 * 2 ** (AUGMENT_SEMITONES / 12)
    shifts = []
    for seed in range(12):
        copy = augment_hit(tone, sample_rate=RATE, rng=np.random.default_rng(seed))
        hz = dominant_hz(copy)
        assert low - 2.0 <= hz <= high + 2.0
        shifts.append(abs(12 * np.log2(hz / 440.0)))
        peak = float(np.max(np.abs(copy)))
        assert 10 ** (GAIN_DB[0] / 20) - 1e-4 <= peak <= 1.0 + 1e-6
    assert max(shifts) > 0.5  # some copies really are retuned


def test_a_higher_copy_is_shorter_by_the_same_ratio() -> None:
    tone = sine(440.0)
    for seed in range(12):
        copy = augment_hit(tone, sample_rate=RATE, rng=np.random.default_rng(seed))
        ratio = dominant_hz(copy) / 440.0
        if copy.shape[0] >= tone.size * 0.999 / ratio - 2:  # not cut
            assert copy.shape[0] == pytest.approx(tone.size / ratio, rel=0.01)


def test_channels_are_kept_and_silence_stays_silent() -> None:
    stereo = np.stack([sine(200.0), sine(300.0)], axis=1)
    copy = augment_hit(stereo, sample_rate=RATE, rng=np.random.default_rng(1))
    assert copy.ndim == 2 and copy.shape[1] == 2 and copy.dtype == np.float32
    silent = augment_hit(np.zeros(1000), sample_rate=RATE, rng=np.random.default_rng(1))
    assert not silent.any()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        augment_hit(sine(100.0), sample_rate=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        augment_hit(np.zeros((0,)), sample_rate=RATE, rng=np.random.default_rng(0))
