"""The timbre embedding: shape, norm, invariances and neighbourhoods."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.fft

from samplemind.analysis.embedding import (
    BLOCK_SIZES,
    EMBEDDING_DIM,
    _dct_rows,
    _frames_to_fall,
    compute_embedding,
    embedding_features,
    mel_filterbank,
)
from samplemind.analysis.synthetic import as_signal, timbre

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "drums"


def embed(samples: np.ndarray, sample_rate: int = timbre.ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    return compute_embedding(as_signal(samples, sample_rate=sample_rate))


def test_dimension_and_dtype() -> None:
    assert EMBEDDING_DIM == sum(BLOCK_SIZES.values()) <= 128
    vector = embed(timbre.tone_note(440.0))
    assert vector.shape == (EMBEDDING_DIM,)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("n", [1, 64, 22050])
def test_silence_gives_a_defined_unit_vector(n: int) -> None:
    vector = embed(np.zeros(n, dtype=np.float32))
    assert np.all(np.isfinite(vector))
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(vector, 1.0 / np.sqrt(EMBEDDING_DIM), rtol=1e-6)


@pytest.mark.parametrize(
    "samples",
    [
        np.full(2048, 0.5, dtype=np.float32),  # DC
        timbre.impulse(duration=0.05, at=0.0),
        timbre.sine(100.0, duration=0.01),  # shorter than one frame
        timbre.white_noise(duration=3.0),  # no decay at all
    ],
)
def test_odd_inputs_give_finite_unit_vectors(samples: np.ndarray) -> None:
    vector = embed(samples)
    assert np.all(np.isfinite(vector))
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_deterministic_and_gain_invariant() -> None:
    hit = timbre.noise_burst(seed=3)
    first, second = embed(hit), embed(hit.copy())
    np.testing.assert_array_equal(first, second)
    quiet = embed(hit * 0.01)
    assert float(first @ quiet) > 0.999


def test_native_rate_barely_matters() -> None:
    at_22k = embed(timbre.tone_note(330.0))
    at_44k = embed(timbre.tone_note(330.0, sample_rate=44100), sample_rate=44100)
    assert float(at_22k @ at_44k) > 0.97


def test_sine_notes_are_closer_to_each_other_than_to_noise_bursts() -> None:
    notes = [embed(timbre.tone_note(f)) for f in (220.0, 330.0, 440.0)]
    bursts = [embed(timbre.noise_burst(decay_db_per_s=d, seed=s)) for s, d in enumerate((150, 250))]
    within_notes = min(float(a @ b) for i, a in enumerate(notes) for b in notes[i + 1 :])
    within_bursts = float(bursts[0] @ bursts[1])
    across = max(float(n @ b) for n in notes for b in bursts)
    assert within_notes > across + 0.3
    assert within_bursts > across + 0.3


def test_nearer_pitch_is_nearer() -> None:
    base, near, far = (embed(timbre.tone_note(f)) for f in (200.0, 220.0, 2000.0))
    assert float(base @ near) > float(base @ far)


def test_short_decay_is_nearer_short_decay() -> None:
    short_a = embed(timbre.noise_burst(decay_db_per_s=600.0, seed=1))
    short_b = embed(timbre.noise_burst(decay_db_per_s=500.0, seed=2))
    long = embed(timbre.noise_burst(decay_db_per_s=40.0, duration=1.0, seed=3))
    assert float(short_a @ short_b) > float(short_a @ long)


def test_features_are_raw_and_mel_bank_is_normalised() -> None:
    features = embedding_features(as_signal(timbre.tone_note(440.0)))
    assert features is not None and features.shape == (EMBEDDING_DIM,)
    assert embedding_features(as_signal(np.zeros(100, np.float32))) is None
    bank = mel_filterbank(sample_rate=22050, n_fft=2048)
    assert bank.shape == (64, 1025)
    np.testing.assert_allclose(bank.sum(axis=1), 1.0, rtol=1e-5)
    assert mel_filterbank(sample_rate=22050, n_fft=2048) is bank
    with pytest.raises(ValueError):
        mel_filterbank(sample_rate=0, n_fft=2048)


def test_frames_to_fall_interpolates_from_each_rows_peak() -> None:
    frames = np.arange(40.0)
    rows = [
        np.where(frames < 3, -6.0, -2.0 * (frames - 3)),  # peak at 3, 2 dB a frame after it
        -5.0 * np.abs(frames - 10),  # peak at 10, 5 dB a frame either side
        np.zeros(40),  # never falls
    ]
    energies = 10.0 ** (np.array(rows) / 10.0)
    peak_index = np.argmax(energies, axis=1)
    fall = _frames_to_fall(energies, peak_index, energies.max(axis=1))
    np.testing.assert_allclose(fall[0], [5.0, 10.0, 15.0], atol=1e-9)
    np.testing.assert_allclose(fall[1], [2.0, 4.0, 6.0], atol=1e-9)
    np.testing.assert_array_equal(fall[2], [40.0, 40.0, 40.0])


def test_band_decay_of_a_noise_burst_follows_its_envelope() -> None:
    rate, decay_db_per_s = timbre.ANALYSIS_SAMPLE_RATE, 100.0
    t = np.arange(rate) / rate
    noise = np.random.default_rng(3).standard_normal(rate)
    burst = (noise * 10.0 ** (-decay_db_per_s * t / 20.0) * 0.5).astype(np.float32)
    features = embedding_features(as_signal(burst))
    assert features is not None
    start = sum(size for name, size in BLOCK_SIZES.items() if name != "bands")
    top_band = features[start + 15 : start + 18]  # 4 kHz and up: frames to fall 10/20/30 dB
    db_per_frame = decay_db_per_s * 512 / rate
    expected = np.log1p(np.array([10.0, 20.0, 30.0]) / db_per_frame)
    np.testing.assert_allclose(top_band, expected, atol=0.12)


def test_contrast_known_answers_click_and_white_noise() -> None:
    start = sum(list(BLOCK_SIZES.values())[:3])
    contrast = slice(start, start + BLOCK_SIZES["contrast"])
    click = np.zeros(22050, np.float32)
    click[5000] = 1.0  # each frame holding it has a flat spectrum
    noise = np.random.default_rng(5).standard_normal(22050).astype(np.float32)
    features = [embedding_features(as_signal(x)) for x in (click, noise)]
    assert all(f is not None for f in features)
    flat, white = (np.asarray(f)[contrast] for f in features)
    np.testing.assert_allclose(flat, 0.0, atol=1e-6)
    # Periodogram bins of white noise are exponential: the top 20 % average
    # 1 + ln 5, the bottom 20 % 5 (1 - 0.8 (1 - ln 0.8)); log10 of the ratio is 1.385.
    assert white[-1] == pytest.approx(1.385, abs=0.08)


def test_rejects_non_signal() -> None:
    with pytest.raises(TypeError):
        compute_embedding(np.zeros(10))  # type: ignore[arg-type]


@pytest.mark.corpus
def test_corpus_recall_well_above_chance() -> None:
    """Honest recall@10 on a stratified subset (20 files per label, 16 labels).

    Neighbours from the query's own machine are excluded. Measured 0.488
    (chance 0.0625); the full corpus gives 0.646 (chance 0.123).
    """
    if not CORPUS.is_dir():
        pytest.skip("corpus not available")
    sys.path.insert(0, str(REPO / "bench"))
    import embedding_recall as bench

    by_label: dict[str, list[Path]] = {}
    for path in bench.corpus_files(CORPUS):
        by_label.setdefault(bench.label_of(path), []).append(path)
    subset = []
    for paths in by_label.values():
        picks = np.linspace(0, len(paths) - 1, 20).round().astype(int)
        subset += [paths[i] for i in picks]
    vectors = np.array([compute_embedding(bench.load_signal(path)) for path in subset])
    labels = np.array([bench.label_of(p) for p in subset])
    machines = np.array([bench.machine_of(p) for p in subset])
    recall, per_label = bench.recall_at_k(vectors, labels, machines, k=10)
    chance = bench.chance_level(labels)
    assert recall >= 0.40 > 6 * chance
    assert per_label["bd"] > 0.7 and per_label["sd"] > 0.4


def test_dct_rows_match_scipy_orthonormal_dct() -> None:
    levels = np.random.default_rng(7).standard_normal((64, 6))
    np.testing.assert_allclose(
        _dct_rows(64) @ levels, scipy.fft.dct(levels, type=2, norm="ortho", axis=0)[:10], atol=1e-12
    )
