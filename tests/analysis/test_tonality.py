"""Known-answer tests for chroma and key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplemind.analysis import tonality
from samplemind.analysis.signal import DecodedAudio, prepare
from samplemind.analysis.synthetic import as_signal, harmony
from samplemind.analysis.synthetic import rhythm as synth
from samplemind.analysis.synthetic.timbre import white_noise

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"


# --------------------------------------------------------------------------- chroma


def test_chroma_shape_dtype_and_cache() -> None:
    signal = as_signal(harmony.progression(0, "I-IV-V-I", bpm=140.0))
    frames = tonality.chroma(signal)
    assert frames.shape == (12, signal.n_frames)
    assert frames.dtype == np.float32
    assert np.all(frames >= 0)
    assert tonality.chroma(signal) is frames
    profile = tonality.chroma_profile(signal)
    assert profile.shape == (12,)
    assert profile.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("midi", [33, 40, 47, 52, 61, 69, 78])
def test_single_note_lands_on_its_pitch_class(midi: int) -> None:
    """Even A1 (55 Hz, a semitone is 3 Hz, a bin 10.8 Hz) lands on A."""
    signal = as_signal(harmony.tone(midi, duration=1.0, instrument="saw"))
    assert int(np.argmax(tonality.chroma_profile(signal))) == midi % 12


@pytest.mark.parametrize("cents", [-40.0, -15.0, 20.0, 45.0])
def test_tuning_offset_of_a_detuned_note(cents: float) -> None:
    signal = as_signal(harmony.tone(57 + cents / 100.0, duration=1.0, instrument="saw"))
    assert tonality.tuning_offset(signal) == pytest.approx(cents / 100.0, abs=0.05)


def test_detuned_progression_keeps_its_key() -> None:
    """A whole band 40 cents sharp is still in its key (the tuning is removed)."""
    samples = harmony.progression(2, "I-V-vi-IV", bpm=120.0, instrument="saw")
    stretched = np.interp(  # resampling by 2**(-0.4/12) raises every pitch by 40 cents
        np.arange(0, samples.size, 2.0 ** (0.4 / 12.0)), np.arange(samples.size), samples
    ).astype(np.float32)
    estimate = tonality.estimate_key(as_signal(stretched))
    assert estimate is not None
    assert estimate.key == "D major"


# --------------------------------------------------------------------------- key


def test_key_accuracy_on_held_out_renders() -> None:
    """≥ 90 % exact key over the 24 keys (measured 95 % on 240; 92.5 % on these 48).

    Parameters were chosen on the "train" instruments and voicings; these are
    the other ones: piano, triangle, pad, open and spread voicings, octaves
    3-5, with and without bass and drums.
    """
    examples = harmony.key_examples(48, split="test", seed=22)
    found = [tonality.estimate_key(as_signal(e.samples)) for e in examples]
    correct = [k is not None and k.key == e.key for k, e in zip(found, examples, strict=True)]
    assert np.mean(correct) >= 0.9
    assert all(k is None or 0.0 <= k.confidence <= 1.0 for k in found)


@pytest.mark.parametrize(("tonic", "name"), [(9, "i-iv-V-i"), (4, "I-IV-V-I"), (1, "i-VI-VII-i")])
def test_key_with_bass_and_drums(tonic: int, name: str) -> None:
    samples = harmony.progression(
        tonic, name, bpm=110.0, instrument="piano", voicing="open", bass=True, drum_pattern="rock"
    )
    estimate = tonality.estimate_key(as_signal(samples))
    mode = harmony.PROGRESSIONS[name][0]
    assert estimate is not None
    assert estimate.key == harmony.key_name(tonic, mode)
    assert estimate.source == "audio"


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(synth.kick(), id="kick"),
        pytest.param(synth.snare(), id="snare"),
        pytest.param(synth.hat(), id="hat"),
        pytest.param(synth.tom(), id="tom"),
        pytest.param(synth.crash(), id="crash"),
        pytest.param(white_noise(duration=2.0), id="noise"),
        pytest.param(np.zeros(22050, dtype=np.float32), id="silence"),
        pytest.param(synth.drum_loop(120.0, pattern="rock", bars=2, hats="16ths"), id="drum-loop"),
        pytest.param(
            synth.drum_loop(90.0, pattern="hiphop", bars=4, hats="8ths", seed=7), id="hiphop-loop"
        ),
        pytest.param(
            synth.drum_loop(128.0, pattern="house", bars=2, hats="offbeat", seed=9), id="house-loop"
        ),
        pytest.param(synth.bass_808(), id="808"),
        pytest.param(harmony.tone(57, duration=2.0, instrument="saw"), id="held-note"),
    ],
)
def test_no_key_without_harmony(samples: np.ndarray) -> None:
    assert tonality.estimate_key(as_signal(samples)) is None


def test_no_key_for_random_drum_kits() -> None:
    patterns = sorted(synth.PATTERNS)
    for seed in range(12):
        samples = synth.drum_loop(
            80.0 + 8 * seed, pattern=patterns[seed % len(patterns)], bars=2, hats="none", seed=seed
        )
        assert tonality.estimate_key(as_signal(samples)) is None


# --------------------------------------------------------------------------- hints


@pytest.fixture(scope="module")
def a_minor() -> np.ndarray:
    return harmony.progression(9, "i-iv-V-i", bpm=120.0, instrument="saw")


def test_hint_equal_to_audio(a_minor: np.ndarray) -> None:
    estimate = tonality.estimate_key(as_signal(a_minor), hint_key="Am")
    assert estimate is not None
    assert (estimate.key, estimate.source) == ("A minor", "audio+filename")


def test_relative_hint_wins(a_minor: np.ndarray) -> None:
    plain = tonality.estimate_key(as_signal(a_minor))
    estimate = tonality.estimate_key(as_signal(a_minor), hint_key="C major")
    assert plain is not None and estimate is not None
    assert (estimate.key, estimate.source) == ("C major", "audio+filename")
    assert estimate.confidence >= plain.confidence


def test_conflicting_hint_is_ignored(a_minor: np.ndarray) -> None:
    estimate = tonality.estimate_key(as_signal(a_minor), hint_key="F#")
    assert estimate is not None
    assert (estimate.key, estimate.source) == ("A minor", "audio")


def test_hint_on_a_held_note_is_reported_from_the_filename() -> None:
    signal = as_signal(harmony.tone(45, duration=2.0, instrument="saw"))  # A2
    estimate = tonality.estimate_key(signal, hint_key="Amin")
    assert estimate is not None
    assert (estimate.key, estimate.source) == ("A minor", "filename")
    assert estimate.confidence <= 0.5
    # A hint whose scale lacks the note is not backed by the audio.
    assert tonality.estimate_key(signal, hint_key="Eb") is None


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(synth.kick(), id="kick"),
        pytest.param(synth.drum_loop(100.0, pattern="rock", bars=2), id="drum-loop"),
        pytest.param(white_noise(duration=2.0), id="noise"),
    ],
)
def test_hint_never_gives_a_drum_a_key(samples: np.ndarray) -> None:
    assert tonality.estimate_key(as_signal(samples), hint_key="Am") is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Am", "A minor"),
        ("A minor", "A minor"),
        ("a min", "A minor"),
        ("F#maj", "F# major"),
        ("Bb", "A# major"),
        ("Ebm", "D# minor"),
        ("C", "C major"),
        ("Cb", "B major"),
        ("G♯ Minor", "G# minor"),
        ("DMAJOR", "D major"),
    ],
)
def test_parse_key(text: str, key: str) -> None:
    assert tonality.parse_key(text) == key


@pytest.mark.parametrize("text", ["", "H", "Am7", "120bpm", "major"])
def test_parse_key_rejects_non_keys(text: str) -> None:
    with pytest.raises(ValueError, match="key"):
        tonality.parse_key(text)


def test_bad_hint_raises() -> None:
    with pytest.raises(ValueError, match="key"):
        tonality.estimate_key(as_signal(synth.kick()), hint_key="not a key")


# --------------------------------------------------------------------------- corpus


@pytest.mark.corpus
def test_corpus_drum_hits_have_no_key() -> None:
    """No key for drum hits (measured: none of the 2,399 files has one)."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    paths = sorted(CORPUS.glob("*/*.flac"))[::2]
    keyed = []
    for path in paths:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        signal = prepare(DecodedAudio(samples=samples.T.copy(), sample_rate=rate, format="FLAC"))
        if tonality.estimate_key(signal) is not None:
            keyed.append(f"{path.parent.name}/{path.name}")
    assert not [k for k in keyed if k.split("/")[0] in {"bd", "sd", "hh", "cp"}]
    assert 1.0 - len(keyed) / len(paths) >= 0.99, keyed


# ------------------------------------------------------------- the early exits
# estimate_key returns None before computing chroma when the signal is too
# short, or too little of its spectrum is tonal, for any key. Switching those
# tests off must change nothing, hint or not.


def key_without_early_exits(
    samples: np.ndarray, hint_key: str | None, monkeypatch: pytest.MonkeyPatch
) -> tonality.KeyEstimate | None:
    with monkeypatch.context() as patch:
        patch.setattr(tonality, "_long_enough_for_a_key", lambda signal: True)
        patch.setattr(tonality, "_tonal_enough_for_a_key", lambda signal: True)
        return tonality.estimate_key(as_signal(samples), hint_key=hint_key)


EARLY_EXIT_CASES = {
    "kick": synth.kick(),
    "crash": synth.crash(),
    "noise": white_noise(duration=2.0),
    "short-note": harmony.tone(45, duration=0.9, instrument="saw"),
    "held-note": harmony.tone(45, duration=2.0, instrument="saw"),
    "short-chords": harmony.progression(9, "i-iv-V-i", bpm=120.0, instrument="saw")[:20000],
    "chords": harmony.progression(9, "i-iv-V-i", bpm=120.0, instrument="saw"),
    "drum-loop": synth.drum_loop(100.0, pattern="rock", bars=2),
}


@pytest.mark.parametrize("name", sorted(EARLY_EXIT_CASES))
@pytest.mark.parametrize("hint_key", [None, "Am", "C", "Eb"])
def test_early_exits_give_the_same_answers(
    name: str, hint_key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = EARLY_EXIT_CASES[name]
    expected = key_without_early_exits(samples, hint_key, monkeypatch)
    assert tonality.estimate_key(as_signal(samples), hint_key=hint_key) == expected


def test_short_and_noisy_signals_skip_chroma() -> None:
    for samples in (synth.kick(), white_noise(duration=2.0)):
        signal = as_signal(samples)
        assert tonality.estimate_key(signal, hint_key="Am") is None
        assert "tonality.chroma" not in signal._cache
