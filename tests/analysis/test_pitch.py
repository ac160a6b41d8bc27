"""Pitch of one-shots: synthetic known answers, unpitched sounds, the drum corpus."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from samplemind.analysis import pitch as pitch_module
from samplemind.analysis.decode import decode_audio
from samplemind.analysis.pitch import PitchEstimate, estimate_pitch, hz_to_note
from samplemind.analysis.signal import DecodedAudio, prepare
from samplemind.analysis.synthetic import tones

RATE = 44100
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"
# 30 Hz to 2 kHz in steps of five semitones, each detuned by +13 cents.
NOTES_HZ = [30.0 * 2 ** ((5 * k + 0.13) / 12) for k in range(15)] + [2000.0]

Generator = Callable[[float], np.ndarray]
PITCHED: dict[str, Generator] = {
    "sine": lambda hz: tones.sine(hz, duration=1.0, sample_rate=RATE),
    "sawtooth": lambda hz: tones.sawtooth(hz, duration=1.0, sample_rate=RATE),
    "decaying_saw": lambda hz: tones.sawtooth(hz, duration=1.0, sample_rate=RATE, decay=0.3),
    "808": lambda hz: tones.bass_808(hz, sample_rate=RATE),
    "808_distorted": lambda hz: tones.bass_808(hz, sample_rate=RATE, drive=12.0),
    "tom": lambda hz: tones.tom(hz, sample_rate=RATE),
}


def pitch_of(samples: np.ndarray, sample_rate: int = RATE) -> PitchEstimate | None:
    decoded = DecodedAudio(
        samples=samples.astype(np.float32), sample_rate=sample_rate, format="WAV"
    )
    return estimate_pitch(prepare(decoded))


def cents_between(estimate: PitchEstimate | None, hz: float) -> float:
    assert estimate is not None, f"no pitch found for {hz:.2f} Hz"
    return 1200 * math.log2(estimate.hz / hz)


@pytest.mark.parametrize(
    ("hz", "note"),
    [
        (440.0, "A4"),
        (65.41, "C2"),
        (27.5, "A0"),
        (261.63, "C4"),
        (466.16, "A#4"),
        (4186.01, "C8"),
        (30.87, "B0"),
        (451.0, "A4"),  # +43 cents
        (454.0, "A#4"),  # -44 cents from A#4
    ],
)
def test_hz_to_note(hz: float, note: str) -> None:
    assert hz_to_note(hz) == note


@pytest.mark.parametrize("bad", [0.0, -440.0, math.nan, math.inf])
def test_hz_to_note_rejects_non_frequencies(bad: float) -> None:
    with pytest.raises(ValueError):
        hz_to_note(bad)


@pytest.mark.parametrize("kind", sorted(PITCHED))
def test_pitched_one_shots_within_10_cents(kind: str) -> None:
    errors = [cents_between(pitch_of(PITCHED[kind](hz)), hz) for hz in NOTES_HZ]
    assert max(abs(error) for error in errors) < 10.0, np.round(errors, 2)


@pytest.mark.parametrize("hz", [41.2, 98.0, 246.9, 1046.5])
def test_estimate_fields(hz: float) -> None:
    estimate = pitch_of(tones.sawtooth(hz * 2 ** (21 / 1200), duration=1.0, sample_rate=RATE))
    assert estimate is not None
    assert estimate.note == hz_to_note(hz)
    assert estimate.cents == pytest.approx(21.0, abs=1.0)
    assert 0.8 <= estimate.confidence <= 1.0


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 96000, 192000])
def test_native_sample_rate_does_not_matter(rate: int) -> None:
    assert abs(cents_between(pitch_of(tones.bass_808(55.0, sample_rate=rate), rate), 55.0)) < 2.0


@pytest.mark.parametrize("hz", [32.7, 55.0, 98.0])
def test_no_octave_error_when_the_fundamental_is_weak(hz: float) -> None:
    distorted = tones.bass_808(hz, sample_rate=RATE, drive=20.0)
    high_pass = scipy.signal.butter(4, 2.5 * hz, "highpass", fs=RATE, output="sos")
    weak_fundamental = scipy.signal.sosfilt(high_pass, distorted)
    assert abs(cents_between(pitch_of(weak_fundamental), hz)) < 10.0
    t = np.arange(RATE) / RATE
    amplitudes = {1: 0.05, 2: 1.0, 3: 0.8, 4: 0.5}
    overtones = np.sum([a * np.sin(2 * np.pi * k * hz * t) for k, a in amplitudes.items()], axis=0)
    assert abs(cents_between(pitch_of(0.2 * overtones[np.newaxis, :]), hz)) < 10.0


def test_noisy_tone_still_found() -> None:
    rng = np.random.default_rng(3)
    tone = tones.sine(110.0, duration=1.0, sample_rate=RATE, level_dbfs=-6.0)
    noisy = tone + 0.05 * rng.standard_normal(tone.shape)  # about 17 dB SNR
    assert abs(cents_between(pitch_of(noisy), 110.0)) < 5.0


def test_quiet_and_offset_tones() -> None:
    quiet = tones.sine(220.0, duration=1.0, sample_rate=RATE, level_dbfs=-70.0)
    assert abs(cents_between(pitch_of(quiet), 220.0)) < 1.0
    assert abs(cents_between(pitch_of(quiet + 0.2), 220.0)) < 1.0


UNPITCHED: dict[str, Callable[[int], np.ndarray]] = {
    "white_noise": lambda seed: tones.white_noise(duration=1.0, sample_rate=RATE, seed=seed),
    "pink_noise": lambda seed: tones.pink_noise(duration=1.0, sample_rate=RATE, seed=seed),
    "hihat": lambda seed: tones.hihat(sample_rate=RATE, seed=seed),
    "open_hihat": lambda seed: tones.hihat(sample_rate=RATE, duration=1.0, decay=0.4, seed=seed),
    "snare": lambda seed: tones.snare(sample_rate=RATE, seed=seed),
    "clap": lambda seed: tones.clap(sample_rate=RATE, seed=seed),
}


@pytest.mark.parametrize("kind", sorted(UNPITCHED))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unpitched_sounds_have_no_pitch(kind: str, seed: int) -> None:
    assert pitch_of(UNPITCHED[kind](seed)) is None


def test_silence_and_tiny_signals_have_no_pitch() -> None:
    assert pitch_of(np.zeros((1, RATE))) is None
    assert pitch_of(np.zeros((2, 10))) is None
    assert pitch_of(np.full((1, RATE), 0.5)) is None  # DC only


def corpus_files(*categories: str) -> dict[str, list[Path]]:
    if not CORPUS.is_dir():
        pytest.skip(f"drum corpus not found at {CORPUS}")
    return {category: sorted((CORPUS / category).glob("*.flac")) for category in categories}


def corpus_pitches(paths: list[Path]) -> list[float | None]:
    estimates = (estimate_pitch(prepare(decode_audio(path))) for path in paths)
    return [None if estimate is None else estimate.hz for estimate in estimates]


@pytest.mark.corpus
def test_corpus_cymbals_hats_shakers_claps_are_unpitched() -> None:
    files = corpus_files("hh", "oh", "cr", "rd", "sh", "cp")
    # Every second file keeps the test fast; all of them measured 450/450 None.
    pitches = corpus_pitches([path for paths in files.values() for path in paths[::2]])
    unpitched_share = sum(pitch is None for pitch in pitches) / len(pitches)
    assert unpitched_share >= 0.97


@pytest.mark.corpus
def test_corpus_toms_are_pitched_and_ordered() -> None:
    files = corpus_files("lt", "mt", "ht")
    medians = {}
    for category, paths in files.items():
        pitches = [pitch for pitch in corpus_pitches(paths[::2]) if pitch is not None]
        # Measured on all files: 0.68 (lt), 0.66 (mt), 0.67 (ht) get a pitch.
        assert len(pitches) / len(paths[::2]) >= 0.5, category
        medians[category] = float(np.median(pitches))
    assert medians["lt"] < medians["mt"] < medians["ht"], medians


# ------------------------------------------ the early exit on half of the frames
# _yin_track evaluates one parity of frames first and stops when too few can be
# periodic for a continuous track. Switching that test off must change nothing.


def pitch_without_early_exit(
    samples: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> PitchEstimate | None:
    with monkeypatch.context() as patch:
        patch.setattr(pitch_module, "_may_be_continuous", lambda *args: True)
        return pitch_of(samples)


def early_exit_signals() -> list[np.ndarray]:
    signals = [generator(seed) for generator in UNPITCHED.values() for seed in (0, 1)]
    signals += [PITCHED[kind](hz) for kind in ("sine", "808", "tom") for hz in (55.0, 220.0)]
    rng = np.random.default_rng(5)
    noise_then_tone = np.concatenate(
        [rng.standard_normal(RATE // 4) * 0.3, tones.sine(330.0, duration=0.5, sample_rate=RATE)[0]]
    )
    glide = scipy.signal.chirp(np.arange(RATE) / RATE, 80.0, 1.0, 400.0, method="logarithmic")
    return [*signals, noise_then_tone[np.newaxis], glide[np.newaxis] * 0.5]


def test_early_exit_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    for samples in early_exit_signals():
        assert pitch_of(samples) == pitch_without_early_exit(samples, monkeypatch)


def test_early_exit_skips_half_of_the_frames_of_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated: list[int] = []
    frame_dips = pitch_module._frame_dips

    def counting(y: np.ndarray, window_energy: np.ndarray, starts: np.ndarray, **kw: int) -> object:
        evaluated.append(int(starts.size))
        return frame_dips(y, window_energy, starts, **kw)

    monkeypatch.setattr(pitch_module, "_frame_dips", counting)
    assert pitch_of(UNPITCHED["white_noise"](0)) is None
    assert len(evaluated) == 1  # the other parity was never computed
    evaluated.clear()
    assert pitch_of(PITCHED["sine"](220.0)) is not None
    assert len(evaluated) == 2


@pytest.mark.corpus
def test_early_exit_gives_the_same_answers_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    files = corpus_files("sd", "cp", "hh", "bd", "lt", "perc")
    for path in [path for paths in files.values() for path in paths[:6]]:
        decoded = decode_audio(path)
        assert estimate_pitch(prepare(decoded)) == pitch_without_early_exit(
            decoded.samples, monkeypatch
        ), path
