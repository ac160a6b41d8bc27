"""BS.1770-4 loudness, true peak, sample peak and RMS against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal

from samplemind.analysis import loudness
from samplemind.analysis.loudness import (
    _TRUE_PEAK_PROTOTYPE,
    channel_weights,
    integrated_loudness,
    k_weighting_sos,
    rms_dbfs,
    sample_peak_dbfs,
    true_peak_dbfs,
)
from samplemind.analysis.synthetic import tones

# ITU-R BS.1770-4 Tables 1 and 2: the K-weighting biquads at 48 kHz.
BS1770_48K = np.array(
    [
        [
            1.53512485958697,
            -2.69169618940638,
            1.19839281085285,
            1.0,
            -1.69065929318241,
            0.73248077421585,
        ],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
)


def response_db(sos: np.ndarray, frequencies: np.ndarray, sample_rate: int) -> np.ndarray:
    _, h = scipy.signal.sosfreqz(sos, worN=frequencies, fs=sample_rate)
    return np.asarray(20 * np.log10(np.abs(h)), dtype=np.float64)


def test_k_weighting_matches_the_standard_at_48k() -> None:
    np.testing.assert_allclose(k_weighting_sos(48000), BS1770_48K, atol=1e-10)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 88200, 96000, 192000])
def test_k_weighting_response_is_rate_independent(rate: int) -> None:
    frequencies = np.array([20.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 3000.0, 10000.0])
    frequencies = frequencies[frequencies < 0.4 * rate]
    expected = response_db(BS1770_48K, frequencies, 48000)
    # The bilinear transform squeezes the 1.7 kHz shelf as it nears Nyquist
    # (which is why integrated_loudness resamples rates below 44.1 kHz first).
    tolerance = 0.05 if rate >= 44100 else np.where(frequencies <= 0.1 * rate, 0.05, 0.5)
    actual = response_db(k_weighting_sos(rate), frequencies, rate)
    assert np.all(np.abs(actual - expected) <= tolerance)


@pytest.mark.parametrize("case", [1, 2, 3, 4, 5, 6])
def test_ebu_tech3341_cases(case: int) -> None:
    samples, expected = tones.tech3341_case(case, sample_rate=48000)
    assert integrated_loudness(samples, sample_rate=48000) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 96000, 192000])
@pytest.mark.parametrize("case", [1, 2, 5])
def test_tech3341_cases_at_other_rates(case: int, rate: int) -> None:
    samples, expected = tones.tech3341_case(case, sample_rate=rate)
    assert integrated_loudness(samples, sample_rate=rate) == pytest.approx(expected, abs=0.1)


def test_relative_gate_ignores_quiet_passages() -> None:
    # 60 s at -23 with 30 s at -40 around it: the -40 blocks fall under the
    # relative gate; ungated, the power average would read about -24.7.
    segments = ((-40.0, 15.0), (-23.0, 60.0), (-40.0, 15.0))
    samples = tones.tone_sequence(segments, sample_rate=44100)
    assert integrated_loudness(samples, sample_rate=44100) == pytest.approx(-23.0, abs=0.1)


def test_mono_reads_3_db_below_the_same_signal_in_stereo() -> None:
    stereo = tones.sine(1000.0, duration=5.0, sample_rate=44100, level_dbfs=-20.0, channels=2)
    stereo_lufs = integrated_loudness(stereo, sample_rate=44100)
    mono_lufs = integrated_loudness(stereo[0], sample_rate=44100)
    one_channel_lufs = integrated_loudness(stereo[:1], sample_rate=44100)
    assert stereo_lufs == pytest.approx(-20.0, abs=0.1)
    assert mono_lufs == pytest.approx(stereo_lufs - 10 * np.log10(2), abs=0.01)
    assert one_channel_lufs == mono_lufs


def test_surround_weights_and_lfe() -> None:
    np.testing.assert_array_equal(channel_weights(6), [1, 1, 1, 0, 1.41, 1.41])
    np.testing.assert_array_equal(channel_weights(5), [1, 1, 1, 1.41, 1.41])
    np.testing.assert_array_equal(channel_weights(2), [1, 1])
    base = tones.sine(1000.0, duration=3.0, sample_rate=48000, level_dbfs=-20.0, channels=6)
    base[3:] = 0.0
    with_lfe = base.copy()
    with_lfe[3] = tones.sine(60.0, duration=3.0, sample_rate=48000, level_dbfs=0.0)[0]
    assert integrated_loudness(with_lfe, sample_rate=48000) == integrated_loudness(
        base, sample_rate=48000
    )
    surround = base.copy()
    surround[4] = base[0]
    gain = 10 * np.log10((3 + 1.41) / 3)
    assert integrated_loudness(surround, sample_rate=48000) == pytest.approx(
        integrated_loudness(base, sample_rate=48000) + gain, abs=1e-6
    )


def test_silence_and_very_quiet_signals_have_no_loudness() -> None:
    assert integrated_loudness(np.zeros((2, 48000)), sample_rate=48000) is None
    assert integrated_loudness(np.zeros((2, 0)), sample_rate=48000) is None
    quiet = tones.sine(1000.0, duration=2.0, sample_rate=48000, level_dbfs=-75.0, channels=2)
    assert integrated_loudness(quiet, sample_rate=48000) is None


@pytest.mark.parametrize("seconds", [0.05, 0.1, 0.25, 0.399])
def test_short_signals_are_measured_as_one_block(seconds: float) -> None:
    samples = tones.sine(1000.0, duration=seconds, sample_rate=48000, level_dbfs=-23.0, channels=2)
    # The K-weighting filters start from rest, so allow the onset transient.
    assert integrated_loudness(samples, sample_rate=48000) == pytest.approx(-23.0, abs=0.15)


def test_loudness_of_a_long_signal_spanning_filter_chunks() -> None:
    samples = tones.sine(1000.0, duration=50.0, sample_rate=44100, level_dbfs=-18.0, channels=1)
    assert integrated_loudness(samples, sample_rate=44100) == pytest.approx(-18.0 - 3.01, abs=0.05)


@pytest.mark.parametrize(("seconds", "tail"), [(0.1, 0.25), (1.0, 4.0), (0.3, 30.0)])
def test_a_silent_tail_is_skipped_without_changing_the_loudness(
    seconds: float, tail: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hit followed by digital silence: the filters' free response is not
    computed once negligible, and the figure equals filtering every sample."""
    tone = tones.sine(200.0, duration=seconds, sample_rate=48000, level_dbfs=-12.0, channels=2)
    samples = np.concatenate([tone, np.zeros((2, round(tail * 48000)))], axis=1)
    skipped = integrated_loudness(samples, sample_rate=48000)
    monkeypatch.setattr(loudness, "_SILENT_TAIL_BLOCK", samples.shape[1] + 1)
    filtered = integrated_loudness(samples, sample_rate=48000)
    assert skipped is not None and filtered is not None
    assert skipped == pytest.approx(filtered, abs=1e-9)


def test_invalid_shapes_and_rates() -> None:
    with pytest.raises(ValueError):
        integrated_loudness(np.zeros((2, 3, 4)), sample_rate=48000)
    with pytest.raises(ValueError):
        integrated_loudness(np.zeros((2, 100)), sample_rate=0)
    with pytest.raises(ValueError):
        k_weighting_sos(1000)
    with pytest.raises(ValueError):
        true_peak_dbfs(np.zeros((0, 10)), sample_rate=48000)


def _inter_sample_sine(divisor: float, phase_degrees: float, rate: int) -> np.ndarray:
    """A -6 dBFS stereo sine at ``rate / divisor`` whose peaks fall between samples."""
    return tones.sine(
        rate / divisor,
        duration=1.0,
        sample_rate=rate,
        level_dbfs=-6.0,
        phase=np.deg2rad(phase_degrees),
        channels=2,
        fade=0.01,
    )


# EBU Tech 3341 true-peak cases 15-18: sines whose peaks fall between samples;
# each reads -6.0 dBTP, tolerance +0.2 / -0.4 dB.
@pytest.mark.parametrize(
    ("divisor", "phase_degrees"), [(4, 0.0), (4, 45.0), (6, 60.0), (8, 67.5), (2.5, 10.0)]
)
@pytest.mark.parametrize("rate", [44100, 48000])
def test_true_peak_between_samples(divisor: float, phase_degrees: float, rate: int) -> None:
    samples = _inter_sample_sine(divisor, phase_degrees, rate)
    true_peak = true_peak_dbfs(samples, sample_rate=rate)
    sample_peak = sample_peak_dbfs(samples)
    assert true_peak is not None and sample_peak is not None
    assert -6.4 <= true_peak <= -5.8
    assert true_peak >= sample_peak


def test_true_peak_exceeds_sample_peak_by_the_known_amount() -> None:
    # fs/4 at 45°: every sample sits at ±cos(45°) of the crest, 3.01 dB down.
    samples = tones.sine(
        12000.0, duration=1.0, sample_rate=48000, level_dbfs=-3.0, phase=np.pi / 4, fade=0.01
    )
    true_peak = true_peak_dbfs(samples, sample_rate=48000)
    sample_peak = sample_peak_dbfs(samples)
    assert sample_peak == pytest.approx(-3.0 - 3.01, abs=0.01)
    assert true_peak is not None and sample_peak is not None
    assert true_peak - sample_peak == pytest.approx(3.01, abs=0.5)


def test_true_peak_spans_chunks_and_channels() -> None:
    left = tones.sine(1000.0, duration=30.0, sample_rate=48000, level_dbfs=-20.0, fade=0.01)[0]
    right = left.copy()
    position = 1_048_576 + 3  # just after the first 2**20-sample chunk
    right[position] = 0.9
    samples = np.stack([left, right])
    assert true_peak_dbfs(samples, sample_rate=48000) == pytest.approx(20 * np.log10(0.9), abs=0.3)


def test_true_peak_is_none_for_silence() -> None:
    assert true_peak_dbfs(np.zeros((2, 4800)), sample_rate=48000) is None
    assert true_peak_dbfs(np.zeros(0), sample_rate=48000) is None


def test_sample_peak_and_rms() -> None:
    samples = np.array([[0.0, 0.5, -0.25], [0.1, -1.0, 0.0]], dtype=np.float32)
    assert sample_peak_dbfs(samples) == pytest.approx(0.0)
    assert sample_peak_dbfs(np.zeros(10)) is None
    assert sample_peak_dbfs(np.zeros(0)) is None
    square = np.sign(np.sin(np.arange(1000) * 0.1 + 0.05)) * 0.5
    assert rms_dbfs(square) == pytest.approx(20 * np.log10(0.5), abs=1e-9)
    sine = tones.sine(1000.0, duration=1.0, sample_rate=48000, level_dbfs=-10.0, channels=2)
    assert rms_dbfs(sine) == pytest.approx(-10.0 - 3.0103, abs=0.001)
    assert rms_dbfs(np.zeros((2, 100))) is None
    assert rms_dbfs(np.zeros(0)) is None


# ------------------------------------------------- true peak: the pruned search
# true_peak_dbfs interpolates only the blocks that can beat the peak found so
# far (with bounds and a float32 screen). It must return exactly what
# interpolating every sample returns.


def brute_force_true_peak(samples: np.ndarray) -> float | None:
    """Every sample interpolated 4x with the Annex 2 filter (the unpruned definition)."""
    channels = np.atleast_2d(samples).astype(np.float64)
    if channels.size == 0 or not np.any(channels):
        return None
    peak = float(np.abs(channels).max())
    for channel in channels:
        interpolated = scipy.signal.upfirdn(_TRUE_PEAK_PROTOTYPE, channel, up=4)
        peak = max(peak, float(np.abs(interpolated).max()))
    return 20.0 * math.log10(peak)


def random_test_signal(rng: np.random.Generator, kind: int) -> np.ndarray:
    n = int(rng.integers(1, 5000))
    channels = int(rng.integers(1, 4))
    t = np.arange(n)
    if kind == 0:  # white noise
        return rng.standard_normal((channels, n))
    if kind == 1:  # a decaying hit
        return rng.standard_normal((channels, n)) * np.exp(-t / rng.uniform(20.0, 3000.0))
    if kind == 2:  # a sine at any frequency and phase
        wave = np.sin(2 * np.pi * rng.uniform(0.001, 0.499) * t + rng.uniform(0, 2 * np.pi))
        return np.repeat(wave[np.newaxis], channels, axis=0)
    if kind == 3:  # a square wave: the filter overshoots its edges
        return np.sign(np.sin(2 * np.pi * rng.uniform(0.005, 0.3) * t))[np.newaxis] * 0.9
    if kind == 4:  # one impulse
        impulse = np.zeros((channels, n))
        impulse[:, rng.integers(0, n)] = rng.uniform(-1.0, 1.0)
        return impulse
    if kind == 5:  # fs/4 at 45°: every block ties for the peak
        return np.sin(np.pi / 2 * t + np.pi / 4)[np.newaxis]
    if kind == 6:  # very quiet noise
        return rng.standard_normal((channels, n)) * 1e-30
    walk = np.cumsum(rng.standard_normal((channels, n)), axis=1)  # low-pass: smooth peaks
    return walk / (np.abs(walk).max() + 1e-9)


@pytest.mark.parametrize("kind", range(8))
def test_true_peak_equals_interpolating_every_sample(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for index in range(25):
        samples = random_test_signal(rng, kind)
        if index % 2:
            samples = samples.astype(np.float32)
        if index % 5 == 0:
            samples = samples[0]
        assert true_peak_dbfs(samples, sample_rate=48000) == brute_force_true_peak(samples)


@pytest.mark.parametrize(
    ("divisor", "phase_degrees"), [(4, 0.0), (4, 45.0), (6, 60.0), (8, 67.5), (2.5, 10.0)]
)
@pytest.mark.parametrize("rate", [44100, 48000])
def test_true_peak_tech3341_cases_equal_interpolating_every_sample(
    divisor: float, phase_degrees: float, rate: int
) -> None:
    samples = _inter_sample_sine(divisor, phase_degrees, rate)
    assert true_peak_dbfs(samples, sample_rate=rate) == brute_force_true_peak(samples)


def test_true_peak_across_the_chunk_boundary_equals_interpolating_every_sample() -> None:
    rng = np.random.default_rng(3)
    n = (1 << 20) + 5000
    samples = (rng.standard_normal((2, n)) * 0.05).astype(np.float32)
    # A burst just before the first chunk ends: its ringing falls in the next chunk.
    samples[1, (1 << 20) - 4 : (1 << 20) + 2] = [0.5, -0.9, 0.95, -0.9, 0.5, 0.1]
    assert true_peak_dbfs(samples, sample_rate=48000) == brute_force_true_peak(samples)


@pytest.mark.parametrize("scale", [1e-40, 1e-27, 1e35])
def test_true_peak_of_extreme_levels_equals_interpolating_every_sample(scale: float) -> None:
    rng = np.random.default_rng(8)
    samples = rng.standard_normal((2, 3000)) * np.exp(-np.arange(3000) / 500.0) * scale
    assert true_peak_dbfs(samples, sample_rate=48000) == brute_force_true_peak(samples)
