"""Known answers of the classifier's body and glide features on synthetic signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samplemind.analysis.descriptors import compute_descriptors
from samplemind.analysis.features import FEATURE_NAMES, classifier_features
from samplemind.analysis.synthetic import as_signal

RATE = 22050
SECONDS = 0.6


def feature(samples: np.ndarray, name: str, *, rate: int = RATE) -> float:
    signal = as_signal(samples, sample_rate=rate)
    values = classifier_features(
        signal, compute_descriptors(signal), pitch_confidence=None, pitch_hz=None
    )
    return float(values[FEATURE_NAMES.index(name)])


def decaying(samples: np.ndarray, seconds: float = 0.15) -> np.ndarray:
    t = np.arange(samples.size) / RATE
    return np.asarray(samples * np.exp(-t / seconds))


def times(seconds: float = SECONDS) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def partials(hz: list[float], amplitudes: list[float]) -> np.ndarray:
    t = times()
    return sum(a * np.sin(2 * np.pi * f * t) for f, a in zip(hz, amplitudes, strict=True))


def test_noise_in_the_body_is_flat_and_partials_are_not() -> None:
    noise = decaying(np.random.default_rng(0).standard_normal(times().size))
    tone = decaying(partials([2500.0, 4100.0, 5900.0, 8300.0], [1.0, 0.7, 0.5, 0.3]))
    assert feature(noise, "body_hf_flatness") > math.log(0.7)
    assert feature(tone, "body_hf_flatness") < math.log(0.05)
    # gain does not matter
    assert feature(0.01 * noise, "body_hf_flatness") == pytest.approx(
        feature(noise, "body_hf_flatness"), abs=1e-6
    )


def test_flatness_ignores_the_band_a_low_rate_source_never_had() -> None:
    # a source at 6 kHz has nothing above 2.7 kHz: too little of 2-10 kHz to measure
    noise = decaying(np.random.default_rng(1).standard_normal(int(SECONDS * 6000)))
    assert math.isnan(feature(noise, "body_hf_flatness", rate=6000))
    # at 8 kHz, 2-3.6 kHz is left and measured
    noise = decaying(np.random.default_rng(1).standard_normal(int(SECONDS * 8000)))
    assert feature(noise, "body_hf_flatness", rate=8000) > math.log(0.7)


def test_overtones_are_the_power_ratio_of_the_partials_to_the_fundamental() -> None:
    tom = decaying(partials([120.0, 120.0 * 1.59, 120.0 * 2.14], [1.0, 0.3, 0.2]))
    assert feature(tom, "body_overtones") == pytest.approx(math.log(0.3**2 + 0.2**2), abs=0.1)
    sine = decaying(partials([60.0], [1.0]))
    assert feature(sine, "body_overtones") < math.log(1e-3)


def sweep(start_hz: float, end_hz: float, *, hold_ms: float, sweep_ms: float) -> np.ndarray:
    """``start_hz`` for ``hold_ms``, an exponential glide to ``end_hz`` over
    ``sweep_ms``, then ``end_hz``."""
    t = times()
    progress = np.clip((1000.0 * t - hold_ms) / sweep_ms, 0.0, 1.0)
    hz = start_hz * (end_hz / start_hz) ** progress
    return decaying(np.sin(2 * np.pi * np.cumsum(hz) / RATE), 0.3)


def test_glide_is_the_octaves_the_pitch_falls_after_the_onset() -> None:
    assert feature(sweep(200.0, 100.0, hold_ms=45.0, sweep_ms=12.0), "glide") == pytest.approx(
        1.0, abs=0.03
    )
    assert feature(sweep(90.0, 60.0, hold_ms=42.0, sweep_ms=15.0), "glide") == pytest.approx(
        math.log2(1.5), abs=0.03
    )
    assert feature(sweep(150.0, 150.0, hold_ms=0.0, sweep_ms=1.0), "glide") == pytest.approx(
        0.0, abs=0.01
    )
    # rising pitch is negative
    assert feature(sweep(100.0, 200.0, hold_ms=45.0, sweep_ms=12.0), "glide") == pytest.approx(
        -1.0, abs=0.03
    )


def test_glide_is_undefined_without_enough_periods() -> None:
    short = sweep(200.0, 100.0, hold_ms=45.0, sweep_ms=12.0)[: int(0.05 * RATE)]
    assert math.isnan(feature(short, "glide"))
    assert math.isnan(feature(np.zeros(int(SECONDS * RATE)), "glide"))
