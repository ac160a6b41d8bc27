"""Known-answer tests for the timbre descriptors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from samplemind.analysis.descriptors import (
    Descriptors,
    active_frame_weights,
    analytic_energy,
    attack_time_ms,
    column_sums,
    compute_descriptors,
    decay_time_ms,
    first_event_peak,
    spectral_rolloff,
)
from samplemind.analysis.signal import ANALYSIS_SAMPLE_RATE, N_FFT
from samplemind.analysis.synthetic import as_signal, timbre

SR = ANALYSIS_SAMPLE_RATE
BIN_HZ = SR / N_FFT
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"


def describe(samples: np.ndarray, sample_rate: int = SR) -> Descriptors:
    return compute_descriptors(as_signal(samples, sample_rate=sample_rate))


@pytest.mark.parametrize("freq", [220.0, 1000.0, 4000.0])
def test_sine_centroid_and_rolloff_are_its_frequency(freq: float) -> None:
    d = describe(timbre.faded(timbre.sine(freq, duration=0.3)))
    assert d.spectral_centroid_hz == pytest.approx(freq, abs=0.1 * BIN_HZ)
    # The rolloff is a bin frequency at or just above the sine.
    assert freq - BIN_HZ / 2 <= d.spectral_rolloff_hz <= freq + 1.5 * BIN_HZ


def test_sine_at_native_44k_keeps_its_centroid() -> None:
    sine = timbre.faded(timbre.sine(1000.0, duration=0.3, sample_rate=44100), sample_rate=44100)
    d = describe(sine, sample_rate=44100)
    assert d.spectral_centroid_hz == pytest.approx(1000.0, abs=0.1 * BIN_HZ)


def test_flatness_sine_near_zero_white_noise_near_periodogram_limit() -> None:
    sine = describe(timbre.sine(1000.0, duration=0.5))
    noise = describe(timbre.white_noise(duration=0.5))
    assert sine.spectral_flatness is not None and sine.spectral_flatness < 1e-3
    # A periodogram of white noise has geometric/arithmetic mean exp(-gamma).
    assert noise.spectral_flatness == pytest.approx(math.exp(-np.euler_gamma), abs=0.03)


def test_flatness_of_resampled_noise_is_not_dragged_down_by_the_filter() -> None:
    noise = describe(timbre.white_noise(duration=0.5, sample_rate=44100), sample_rate=44100)
    assert noise.spectral_flatness == pytest.approx(math.exp(-np.euler_gamma), abs=0.03)


def test_white_noise_is_bright_and_broadband() -> None:
    d = describe(timbre.white_noise(duration=0.5))
    # Flat spectrum up to 11025 Hz: centroid at the middle, rolloff at 85 %.
    assert d.spectral_centroid_hz == pytest.approx(SR / 4, rel=0.05)
    assert d.spectral_rolloff_hz == pytest.approx(0.85 * SR / 2, rel=0.05)
    assert d.high_energy_ratio == pytest.approx((SR / 2 - 5000) / (SR / 2), abs=0.03)


@pytest.mark.parametrize("freq", [500.0, 2000.0])
def test_zero_crossing_rate_of_a_sine_is_twice_its_frequency(freq: float) -> None:
    d = describe(timbre.sine(freq, duration=0.5))
    assert d.zero_crossing_rate == pytest.approx(2 * freq, rel=0.002)


@pytest.mark.parametrize("attack_ms", [5.0, 20.0, 50.0])
@pytest.mark.parametrize("carrier", [300.0, 1000.0])
def test_attack_of_a_linear_ramp_is_its_length(attack_ms: float, carrier: float) -> None:
    env = timbre.ramp_decay_envelope(attack_ms=attack_ms, decay_db_per_s=100.0, duration=0.6)
    d = describe(env * timbre.sine(carrier, duration=0.6, amplitude=1.0))
    # 2 ms envelope smoothing blurs the ramp's ends by about 1 ms.
    assert d.attack_ms == pytest.approx(attack_ms, abs=1.5)


def test_attack_of_an_impulse_is_about_zero() -> None:
    d = describe(timbre.impulse())
    assert d.attack_ms is not None and d.attack_ms < 1.0


@pytest.mark.parametrize("decay_db_per_s", [100.0, 400.0, 1000.0])
def test_decay_to_minus_20_db_of_an_exponential(decay_db_per_s: float) -> None:
    env = timbre.ramp_decay_envelope(attack_ms=1.0, decay_db_per_s=decay_db_per_s, duration=0.6)
    d = describe(env * timbre.sine(1000.0, duration=0.6, amplitude=1.0))
    expected_ms = 20.0 / decay_db_per_s * 1000.0
    assert d.decay_ms == pytest.approx(expected_ms, rel=0.03, abs=1.0)


def test_noise_burst_decay_is_close_despite_random_envelope() -> None:
    expected_ms = 20.0 / 200.0 * 1000.0
    decays = [
        describe(timbre.noise_burst(decay_db_per_s=200.0, seed=seed)).decay_ms for seed in range(3)
    ]
    for decay in decays:
        assert decay == pytest.approx(expected_ms, rel=0.15)


def test_sustained_tone_has_no_decay() -> None:
    assert describe(timbre.sine(440.0, duration=0.5)).decay_ms is None


def test_envelope_helpers_validate_input() -> None:
    with pytest.raises(ValueError):
        attack_time_ms(np.zeros((2, 2)), sample_rate=SR)
    with pytest.raises(ValueError):
        decay_time_ms(np.ones(10), sample_rate=0)
    assert attack_time_ms(np.zeros(100), sample_rate=SR) is None


def test_rms_dbfs_of_a_full_scale_sine() -> None:
    d = describe(timbre.sine(1000.0, duration=0.5, amplitude=1.0))
    assert d.rms_dbfs == pytest.approx(-3.0103, abs=0.01)


def test_stereo_width() -> None:
    left = timbre.white_noise(duration=0.3, seed=1)
    right = timbre.white_noise(duration=0.3, seed=2)
    assert describe(left).stereo_width == 0.0
    assert describe(np.stack([left, left])).stereo_width == pytest.approx(0.0, abs=1e-9)
    assert describe(np.stack([left, -left])).stereo_width == pytest.approx(1.0)
    assert describe(np.stack([left, right])).stereo_width == pytest.approx(1.0, abs=0.1)
    partly = describe(np.stack([left, 0.8 * left + 0.2 * right])).stereo_width
    assert partly is not None and 0.0 < partly < 0.1


def test_low_and_high_energy_ratios() -> None:
    low = describe(timbre.sine(80.0, duration=0.5))
    high = describe(timbre.sine(8000.0, duration=0.5))
    assert low.low_energy_ratio is not None and low.low_energy_ratio > 0.95
    assert high.high_energy_ratio is not None and high.high_energy_ratio > 0.95


def test_hard_edges_shift_the_centroid_by_at_most_a_few_bins() -> None:
    d = describe(timbre.sine(1000.0, duration=0.5))
    assert d.spectral_centroid_hz == pytest.approx(1000.0, abs=3 * BIN_HZ)


def test_silence_padding_does_not_dilute_spectral_values() -> None:
    tone = timbre.faded(timbre.sine(1000.0, duration=0.2))
    padded = np.concatenate([np.zeros(SR, np.float32), tone, np.zeros(SR, np.float32)])
    assert describe(padded).spectral_centroid_hz == pytest.approx(
        describe(tone).spectral_centroid_hz, rel=0.001
    )
    assert describe(padded).zero_crossing_rate == pytest.approx(2000.0, rel=0.005)


def test_gain_does_not_change_spectral_shape() -> None:
    noise = timbre.noise_burst()
    loud, quiet = describe(noise), describe(noise * 0.001)
    assert quiet.spectral_centroid_hz == pytest.approx(loud.spectral_centroid_hz, rel=1e-3)
    assert quiet.spectral_flatness == pytest.approx(loud.spectral_flatness, rel=1e-3)
    assert quiet.rms_dbfs == pytest.approx(loud.rms_dbfs - 60.0, abs=0.01)


@pytest.mark.parametrize("n", [1, 100, SR])
def test_silence_gives_none_everywhere(n: int) -> None:
    d = describe(np.zeros(n, dtype=np.float32))
    assert all(value is None for value in vars(d).values())


def test_active_frame_weights() -> None:
    power = np.ones((4, 5))
    power[:, 0] = 1e-9
    weights = active_frame_weights(power)
    assert weights[0] == 0.0 and np.all(weights[1:] == 4.0)
    assert not active_frame_weights(np.zeros((4, 3))).any()
    with pytest.raises(ValueError):
        active_frame_weights(np.ones(3))


def test_rejects_non_signal() -> None:
    with pytest.raises(TypeError):
        compute_descriptors(np.zeros(10))  # type: ignore[arg-type]


@pytest.mark.corpus
def test_corpus_descriptors_order_drum_kinds() -> None:
    """Hats are brighter and noisier than kicks; kicks hold more low energy."""
    if not CORPUS.is_dir():
        pytest.skip("corpus not available")
    import soundfile as sf

    from samplemind.analysis.signal import DecodedAudio, prepare

    def medians(label: str) -> dict[str, float]:
        rows = []
        for path in sorted((CORPUS / label).glob("*.flac"))[::6][:15]:
            samples, rate = sf.read(path, dtype="float32", always_2d=True)
            decoded = DecodedAudio(samples=samples.T.copy(), sample_rate=rate, format="FLAC")
            rows.append(compute_descriptors(prepare(decoded)))
        return {
            name: float(np.median([getattr(r, name) for r in rows]))
            for name in ("spectral_centroid_hz", "spectral_flatness", "low_energy_ratio")
        }

    kick, hat = medians("bd"), medians("hh")
    assert hat["spectral_centroid_hz"] > 3 * kick["spectral_centroid_hz"]
    assert hat["spectral_flatness"] > 10 * kick["spectral_flatness"]
    assert kick["low_energy_ratio"] > 0.5 > hat["low_energy_ratio"]


# ------------------------------------- envelope searches and the analytic signal


def reference_first_event_peak(envelope: np.ndarray) -> int | None:
    """The unchunked definition: whole-array comparisons and one running maximum."""
    top = float(envelope.max(initial=0.0))
    if top <= 0:
        return None
    start = int(np.argmax(envelope >= 0.1 * top))
    tail = envelope[start:]
    falling = tail < 0.5 * np.maximum.accumulate(tail)
    end = int(np.argmax(falling)) if falling.any() else tail.size
    return start + int(np.argmax(tail[:end]))


def reference_attack_and_decay(envelope: np.ndarray) -> tuple[float | None, float | None]:
    peak_index = reference_first_event_peak(envelope)
    if peak_index is None:
        return None, None
    peak = float(envelope[peak_index])
    rise = int(np.argmax(envelope >= 0.9 * peak)) - int(np.argmax(envelope >= 0.1 * peak))
    below = envelope[peak_index:] < 0.1 * peak
    decay = 1000.0 * int(np.argmax(below)) / SR if below.any() else None
    return 1000.0 * rise / 0.8 / SR, decay


def random_envelopes() -> list[np.ndarray]:
    """Envelopes spanning several scan chunks: late events, re-attacks, plateaus, no decay."""
    rng = np.random.default_rng(11)
    envelopes = [np.zeros(10, dtype=np.float32), np.ones(9000, dtype=np.float32)]
    for _ in range(40):
        n = int(rng.integers(1, 20000))
        t = np.arange(n)
        onset = int(rng.integers(0, n))
        hit = np.where(t >= onset, np.exp(-(t - onset) / rng.uniform(5.0, 8000.0)), 0.0)
        second = np.roll(hit, int(rng.integers(0, n))) * rng.uniform(0.0, 2.0)
        noise = np.abs(rng.standard_normal(n)) * rng.uniform(0.0, 0.3)
        envelopes.append((hit + second + noise * hit).astype(np.float32))
    return envelopes


def test_chunked_envelope_searches_match_the_whole_array_definition() -> None:
    for envelope in random_envelopes():
        assert first_event_peak(envelope) == reference_first_event_peak(envelope)
        attack, decay = reference_attack_and_decay(envelope)
        assert attack_time_ms(envelope, sample_rate=SR) == attack
        assert decay_time_ms(envelope, sample_rate=SR) == decay


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 22050, 40000])
def test_analytic_energy_is_the_squared_hilbert_envelope(n: int) -> None:
    rng = np.random.default_rng(n)
    y = (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.3 * n + 1))).astype(np.float32)
    energy = analytic_energy(y)
    padded = scipy.fft.next_fast_len(n)
    expected = np.abs(scipy.signal.hilbert(y.astype(np.float64), N=padded)[:n]) ** 2
    assert energy.dtype == np.float32
    assert energy.shape == (n,)
    # float32 rounding against a float64 reference.
    np.testing.assert_allclose(energy, expected, rtol=0, atol=1e-6 * expected.max())


@pytest.mark.parametrize("shape", [(1025, 1), (1025, 6), (7, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_are_float64_sums_over_rows(shape: tuple[int, int], dtype: type) -> None:
    values = np.random.default_rng(shape[1]).random(shape).astype(dtype)
    sums = column_sums(values)
    assert sums.dtype == np.float64
    assert sums.shape == (shape[1],)
    np.testing.assert_allclose(sums, values.sum(axis=0, dtype=np.float64), rtol=1e-12)


def test_descriptors_leave_a_single_frame_spectrogram_unchanged() -> None:
    # A one-frame spectrogram's transposed rows are contiguous: no scratch
    # computation may write into the shared signal through such a view.
    signal = as_signal(np.random.default_rng(3).standard_normal(300) * 0.1)
    assert signal.n_frames == 1
    power = signal.power.copy()
    compute_descriptors(signal)
    np.testing.assert_array_equal(signal.power, power)


@pytest.mark.parametrize("n_bins", [1025, 64, 33, 1])
def test_rolloff_is_the_first_bin_reaching_85_percent(n_bins: int) -> None:
    # The blocked computation against the definition, on spectra whose answer
    # falls in every block position, plus silent and single-bin frames.
    rng = np.random.default_rng(n_bins)
    magnitude = (rng.random((n_bins, 60)) ** 8).astype(np.float32)
    magnitude[:, 0] = 0.0
    magnitude[:, 1] = 0.0
    magnitude[n_bins // 2, 1] = 1.0
    magnitude[:, 2] = 0.0
    magnitude[-1, 2] = 2.0
    freqs = np.arange(n_bins) * BIN_HZ
    cumulative = np.cumsum(magnitude.astype(np.float64), axis=0)
    expected = freqs[np.argmax(cumulative >= 0.85 * cumulative[-1], axis=0)]
    rolloff = spectral_rolloff(magnitude, freqs)
    assert rolloff.shape == (60,)
    assert rolloff[0] == 0.0
    assert rolloff[1] == freqs[n_bins // 2]
    assert rolloff[2] == freqs[-1]
    np.testing.assert_array_equal(rolloff, expected)
