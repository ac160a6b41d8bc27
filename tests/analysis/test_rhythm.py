"""Known-answer tests for onsets, one-shot/loop detection and tempo."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest
import soundfile as sf

from samplemind.analysis import rhythm
from samplemind.analysis.signal import ANALYSIS_SAMPLE_RATE, DecodedAudio, prepare
from samplemind.analysis.synthetic import as_signal, harmony
from samplemind.analysis.synthetic import rhythm as synth

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"


def _tempo_cases(count: int, seed: int) -> list[tuple[float, str, int, str, bool, bool]]:
    """Random loops: (bpm, pattern or "click", bars, hats, fill, ghost notes)."""
    rng = np.random.default_rng(seed)
    patterns = ["click", *synth.PATTERNS]
    cases = []
    for i in range(count):
        bars = int(rng.choice([1, 2, 4]))
        cases.append(
            (
                round(float(rng.uniform(60.0, 200.0)), 2),
                patterns[i % len(patterns)],
                bars,
                str(rng.choice(["8ths", "16ths", "offbeat", "none"])),
                bars > 1 and rng.random() < 0.3,
                rng.random() < 0.3,
            )
        )
    return cases


def _render(
    bpm: float, pattern: str, bars: int, hats: str, fill: bool, ghost: bool, seed: int
) -> np.ndarray:
    if pattern == "click":
        return synth.click_loop(bpm, bars=bars)
    grid = cast(synth.HatGrid, hats)
    return synth.drum_loop(
        bpm, pattern=pattern, bars=bars, hats=grid, fill=fill, ghost_notes=ghost, seed=seed
    )


# --------------------------------------------------------------------------- onsets


def test_onset_strength_shape_dtype_and_cache() -> None:
    signal = as_signal(synth.click_loop(120.0, bars=1))
    envelope = rhythm.onset_strength(signal)
    assert envelope.shape == (signal.n_frames,)
    assert envelope.dtype == np.float32
    assert np.all(envelope >= 0)
    assert rhythm.onset_strength(signal) is envelope
    assert signal._cache["onset_env"] is envelope


def test_onset_peaks_find_clicks_at_known_times() -> None:
    bpm = 100.0
    signal = as_signal(synth.click_loop(bpm, bars=2, accent=False))
    onsets = rhythm.onset_peaks(signal)
    times = onsets * signal.hop_length / signal.sample_rate
    expected = np.arange(8) * 60.0 / bpm
    assert onsets.size == expected.size
    # Centred frames see an onset up to one window-half early: within 2 hops.
    assert np.all(np.abs(times - expected) <= 2.5 * signal.hop_length / signal.sample_rate)


def test_onset_strength_of_silence_is_zero() -> None:
    signal = as_signal(np.zeros(ANALYSIS_SAMPLE_RATE, dtype=np.float32))
    assert not rhythm.onset_strength(signal).any()
    assert rhythm.onset_peaks(signal).size == 0
    assert rhythm.detect_kind(signal) == "one_shot"
    assert rhythm.estimate_tempo(signal) is None


def test_onset_peaks_rejects_bad_threshold() -> None:
    signal = as_signal(synth.click_loop(120.0, bars=1))
    with pytest.raises(ValueError, match="threshold"):
        rhythm.onset_peaks(signal, threshold=0.0)


# --------------------------------------------------------------------------- kind


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(synth.kick(), id="kick"),
        pytest.param(synth.snare(), id="snare"),
        pytest.param(synth.hat(open_=True), id="open-hat"),
        pytest.param(synth.crash(duration=4.0), id="crash-4s"),
        pytest.param(synth.bass_808(duration=3.0), id="808-3s"),
        pytest.param(synth.tom(), id="tom"),
        pytest.param(harmony.tone(57, duration=2.5, instrument="saw"), id="held-note-2.5s"),
        pytest.param(harmony.tone(45, duration=3.0, instrument="piano"), id="piano-note-3s"),
    ],
)
def test_one_shots_are_one_shots(samples: np.ndarray) -> None:
    assert rhythm.detect_kind(as_signal(samples)) == "one_shot"


def test_synthetic_loops_are_loops() -> None:
    cases = _tempo_cases(40, seed=3)
    kinds = [rhythm.detect_kind(as_signal(_render(*case, seed=i))) for i, case in enumerate(cases)]
    assert kinds.count("loop") == len(cases)


def test_chord_loop_is_a_loop() -> None:
    samples = harmony.progression(0, "I-V-vi-IV", bpm=120.0, instrument="pluck")
    assert rhythm.detect_kind(as_signal(samples)) == "loop"


# --------------------------------------------------------------------------- tempo


@pytest.mark.parametrize(
    ("bpm", "pattern", "hats"),
    [
        (128.0, "four_on_floor", "offbeat"),
        (128.0, "house", "16ths"),
        (85.0, "hiphop", "16ths"),
        (85.0, "boom_bap", "8ths"),
        (174.0, "dnb", "8ths"),
        (174.0, "dnb", "16ths"),
        (120.0, "rock", "8ths"),
        (60.0, "rock", "16ths"),
        (200.0, "rock_push", "8ths"),
        (140.0, "funk", "16ths"),
    ],
)
def test_named_tempo_octave(bpm: float, pattern: str, hats: str) -> None:
    """The octave a producer names: 128 not 64, 85 not 170, 174 not 87."""
    samples = synth.drum_loop(bpm, pattern=pattern, bars=2, hats=cast(synth.HatGrid, hats), seed=1)
    signal = as_signal(samples)
    estimate = rhythm.estimate_tempo(signal)
    assert estimate is not None
    assert estimate.bpm == pytest.approx(bpm, rel=0.01)
    assert estimate.source == "audio"
    assert 0.0 <= estimate.confidence <= 1.0


@pytest.mark.parametrize("bpm", [60.0, 75.0, 100.0, 133.0, 160.0, 200.0])
@pytest.mark.parametrize("bars", [1, 2, 4])
def test_click_loop_tempo(bpm: float, bars: int) -> None:
    estimate = rhythm.estimate_tempo(as_signal(synth.click_loop(bpm, bars=bars)))
    assert estimate is not None
    assert estimate.bpm == pytest.approx(bpm, rel=0.01)


def test_tempo_accuracy_on_random_drum_and_click_loops() -> None:
    """Within 1 % on ≥ 96 % of loops (measured 98 %; misses are sparse one-bar loops)."""
    cases = _tempo_cases(120, seed=11)
    hits = []
    for i, case in enumerate(cases):
        estimate = rhythm.estimate_tempo(as_signal(_render(*case, seed=i)))
        hits.append(estimate is not None and abs(estimate.bpm / case[0] - 1.0) <= 0.01)
    assert np.mean(hits) >= 0.96


def _chord_loop_cases(count: int, seed: int) -> list[tuple[float, str, str, str, int]]:
    """Random chords-plus-drums loops: (bpm, progression, instrument, drums, tonic)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        cases.append(
            (
                float(rng.integers(70, 171)),
                sorted(harmony.PROGRESSIONS)[i % len(harmony.PROGRESSIONS)],
                str(rng.choice(harmony.INSTRUMENTS)),
                sorted(synth.PATTERNS)[int(rng.integers(len(synth.PATTERNS)))],
                int(rng.integers(12)),
            )
        )
    return cases


def test_tempo_accuracy_on_chord_loops_with_drums() -> None:
    """Chords over drums: the chord changes and the first hit (rising from
    silence, far above the rest) must not hide the drums, and a chord change
    is not a snare. Within 1 % on >= 90 % (measured 37/40; the misses are
    twice or half the tempo; the previous estimator had 26/40)."""
    cases = _chord_loop_cases(40, seed=5)
    hits = []
    for i, (bpm, name, instrument, drums, tonic) in enumerate(cases):
        samples = harmony.progression(
            tonic,
            name,
            bpm=bpm,
            instrument=cast(harmony.Instrument, instrument),
            bass=i % 2 == 0,
            drum_pattern=drums,
            seed=i,
        )
        estimate = rhythm.estimate_tempo(as_signal(samples))
        hits.append(estimate is not None and abs(estimate.bpm / bpm - 1.0) <= 0.01)
    assert np.mean(hits) >= 0.9


def test_five_bar_chord_loop_tempo() -> None:
    """i-VI-III-V holds the tonic two bars: 20 beats, whole bars but not a power of 2."""
    samples = harmony.progression(
        9, "i-VI-III-V", bpm=129.0, instrument="piano", drum_pattern="funk"
    )
    estimate = rhythm.estimate_tempo(as_signal(samples))
    assert estimate is not None
    assert estimate.bpm == pytest.approx(129.0, rel=0.01)


def test_tempo_of_loop_with_a_tail_is_not_snapped_wrongly() -> None:
    """A loop not cut to whole bars still gets the audio tempo, not a bar-count guess."""
    bpm = 96.0
    samples = synth.drum_loop(bpm, pattern="rock", bars=5, hats="8ths", seed=4)
    samples = samples[: round((4 * 240.0 / bpm + 0.35) * ANALYSIS_SAMPLE_RATE)]
    estimate = rhythm.estimate_tempo(as_signal(samples))
    assert estimate is not None
    assert estimate.bpm == pytest.approx(bpm, rel=0.01)


def test_tempo_is_none_for_a_one_shot() -> None:
    assert rhythm.estimate_tempo(as_signal(synth.crash(duration=4.0))) is None
    assert rhythm.estimate_tempo(as_signal(synth.kick())) is None


def test_tempo_works_at_native_sample_rate() -> None:
    samples = synth.drum_loop(124.0, pattern="house", bars=2, hats="offbeat", sample_rate=44100)
    decoded = DecodedAudio(samples=samples[np.newaxis, :], sample_rate=44100, format="WAV")
    estimate = rhythm.estimate_tempo(prepare(decoded))
    assert estimate is not None
    assert estimate.bpm == pytest.approx(124.0, rel=0.01)


# --------------------------------------------------------------------------- hints


@pytest.fixture(scope="module")
def hiphop_85() -> np.ndarray:
    return synth.drum_loop(85.0, pattern="hiphop", bars=2, hats="16ths", seed=2)


def test_hint_that_agrees_is_used(hiphop_85: np.ndarray) -> None:
    estimate = rhythm.estimate_tempo(as_signal(hiphop_85), hint_bpm=85.0)
    assert estimate is not None
    assert estimate.source == "audio+filename"
    assert estimate.bpm == pytest.approx(85.0, rel=0.001)
    plain = rhythm.estimate_tempo(as_signal(hiphop_85))
    assert plain is not None
    assert estimate.confidence >= plain.confidence


def test_hint_sets_the_octave(hiphop_85: np.ndarray) -> None:
    estimate = rhythm.estimate_tempo(as_signal(hiphop_85), hint_bpm=170.0)
    assert estimate is not None
    assert estimate.source == "audio+filename"
    assert estimate.bpm == pytest.approx(170.0, rel=0.005)


def test_hint_that_disagrees_is_ignored(hiphop_85: np.ndarray) -> None:
    estimate = rhythm.estimate_tempo(as_signal(hiphop_85), hint_bpm=123.0)
    assert estimate is not None
    assert estimate.source == "audio"
    assert estimate.bpm == pytest.approx(85.0, rel=0.01)


def test_hint_alone_without_a_pulse() -> None:
    estimate = rhythm.estimate_tempo(as_signal(synth.crash(duration=3.0)), hint_bpm=124.0)
    assert estimate is not None
    assert estimate.source == "filename"
    assert estimate.bpm == 124.0
    assert estimate.confidence <= 0.5


@pytest.mark.parametrize("bad", [0.0, -120.0, float("nan"), float("inf")])
def test_bad_hint_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="hint_bpm"):
        rhythm.estimate_tempo(as_signal(synth.kick()), hint_bpm=bad)


# --------------------------------------------------------------------------- corpus


@pytest.mark.corpus
def test_corpus_one_shots_are_one_shots() -> None:
    """Every drum hit of the corpus is a one-shot (measured: all 2,399)."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    paths = sorted(CORPUS.glob("*/*.flac"))
    loops = []
    for path in paths:
        if sf.info(str(path)).duration < rhythm.LOOP_MIN_DURATION:
            continue  # too short to be a loop, nothing to decode
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        signal = prepare(DecodedAudio(samples=samples.T.copy(), sample_rate=rate, format="FLAC"))
        if rhythm.detect_kind(signal) == "loop":
            loops.append(path.name)
    one_shot_fraction = 1.0 - len(loops) / len(paths)
    assert one_shot_fraction >= 0.998, loops
