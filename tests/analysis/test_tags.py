"""Known-answer tests for the descriptive tags, on synthetic signals through the engine."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from samplemind.analysis.pipeline import analyze_bytes
from samplemind.analysis.record import AnalysisRecord
from samplemind.analysis.tags import TAGS, descriptive_tags

SR = 44100


def tags_of(samples: np.ndarray) -> list[str]:
    """Tags of float samples ``(n,)`` or ``(n, channels)`` written as a 24-bit WAV."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, SR, format="WAV", subtype="PCM_24")
    record = analyze_bytes(buffer.getvalue(), name="signal.wav")
    assert record.error is None, record.error
    return record.tags


def sine(seconds: float, hz: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def bright_click() -> np.ndarray:
    """50 ms of differentiated (high-tilted) noise with a 5 ms exponential decay."""
    rng = np.random.default_rng(1)
    noise = np.diff(rng.standard_normal(round(0.05 * SR) + 1))
    envelope = np.exp(-np.arange(noise.size) / (0.005 * SR))
    return (0.4 * noise * envelope).astype(np.float32)


def test_a_short_bright_click_is_short_bright_and_punchy() -> None:
    tags = tags_of(bright_click())
    assert {"short", "bright", "punchy", "mono"} <= set(tags)
    assert not {"long", "dark", "tonal", "distorted"} & set(tags)


def test_a_long_dark_sine_is_long_dark_and_tonal() -> None:
    tags = tags_of(sine(3.0, 110.0))
    assert {"long", "dark", "tonal", "mono"} <= set(tags)
    assert not {"short", "bright", "noisy", "distorted", "stereo"} & set(tags)


def test_decorrelated_stereo_noise_is_stereo_and_noisy_and_its_downmix_mono() -> None:
    rng = np.random.default_rng(2)
    noise = (0.25 * rng.standard_normal((SR, 2))).astype(np.float32)
    tags = tags_of(noise)
    assert {"stereo", "noisy"} <= set(tags)
    assert not {"mono", "tonal"} & set(tags)
    identical = np.repeat(noise[:, :1], 2, axis=1)
    assert "mono" in tags_of(identical) and "stereo" not in tags_of(identical)


def test_a_hard_clipped_sine_is_distorted_and_the_clean_one_is_not() -> None:
    clean = sine(1.0, 220.0)
    clipped = np.clip(8.0 * clean, -0.9, 0.9)
    assert "distorted" in tags_of(clipped)
    assert "distorted" not in tags_of(clean)


def test_a_slow_swell_is_not_punchy() -> None:
    swell = sine(1.5, 440.0) * np.linspace(0.0, 1.0, round(1.5 * SR), dtype=np.float32)
    assert "punchy" not in tags_of(swell)


@pytest.mark.parametrize("tag", TAGS)
def test_nothing_measured_gives_no_tag(tag: str) -> None:
    assert tag not in descriptive_tags(AnalysisRecord(path="x.wav"))


def test_thresholds_are_the_documented_ones() -> None:
    record = AnalysisRecord(
        path="x.wav", duration=0.2499, spectral_centroid_hz=4000.0, channels=2, stereo_width=0.1
    )
    assert descriptive_tags(record) == ["short", "bright", "stereo"]
    record.duration, record.spectral_centroid_hz, record.stereo_width = 2.0, 800.0, 0.0099
    assert descriptive_tags(record) == ["long", "dark", "mono"]
