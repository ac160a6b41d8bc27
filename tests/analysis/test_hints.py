"""Filename and folder hints on real-world sample-name styles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samplemind.analysis.hints import (
    CATEGORY_SYNONYMS,
    FilenameHints,
    category_for_word,
    note_pitch_class,
    parse_hints,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"

CASES: list[tuple[str, dict[str, Any]]] = [
    ("Kick_808_C#.wav", {"category": "kick", "root_note": "C#"}),
    ("Loop_124bpm_Am.wav", {"bpm": 124.0, "key": "A minor", "kind": "loop"}),
    ("LOOP 90 BPM F#min.wav", {"bpm": 90.0, "key": "F# minor", "kind": "loop"}),
    (
        "drums/loops/hiphop_92_Dmaj_break.wav",
        {"bpm": 92.0, "key": "D major", "kind": "loop", "category": "drums"},
    ),
    ("Snare 03.wav", {"category": "snare"}),
    ("128_house_loop_Gm.aif", {"bpm": 128.0, "key": "G minor", "kind": "loop"}),
    ("Bass - C2 - 808 Sub.wav", {"root_note": "C2", "category": "bass"}),
    # A chord names its root, not the key.
    ("Cmaj7 chord stab.wav", {"root_note": "C", "category": "synth", "kind": "one_shot"}),
    ("Hi Hat Closed 05.wav", {"category": "closed_hat"}),
    ("OH_open_hat.wav", {"category": "open_hat"}),
    ("SD_Snare_Tight.flac", {"category": "snare"}),
    ("BD Kick.wav", {"category": "kick"}),
    (
        "Vox_Chop_Ebm_120.wav",
        {"bpm": 120.0, "key": "Eb minor", "category": "vocal", "kind": "one_shot"},
    ),
    ("Amen break 170.wav", {"bpm": 170.0, "kind": "loop", "category": "drums"}),
    ("corpus/drums/bd/RolandTR808__BD-01.flac", {"category": "kick"}),
    ("drums/bd/RolandTR808__01.flac", {"category": "kick"}),
    ("drums/tb/RolandTB303__Hit.flac", {"category": "tambourine", "kind": "one_shot"}),
    ("Drum Loop.wav", {"category": "drums", "kind": "loop"}),
    ("Loop in C Major 120.wav", {"bpm": 120.0, "key": "C major", "kind": "loop"}),
    ("Loops/124 BPM/perc_top.wav", {"bpm": 124.0, "kind": "loop", "category": "percussion"}),
    ("87.5bpm groove.wav", {"bpm": 87.5, "kind": "loop"}),
    ("bpm128_loop.wav", {"bpm": 128.0, "kind": "loop"}),
    ("Open HiHat 2.wav", {"category": "open_hat"}),
    ("ClosedHH.wav", {"category": "closed_hat"}),
    ("BassDrum_Deep.wav", {"category": "kick"}),
    ("Bass Drum 1.wav", {"category": "kick"}),
    ("Side Stick.wav", {"category": "rim"}),
    ("Pad C.wav", {"category": "pad", "root_note": "C"}),
    ("E-Piano C3.wav", {"category": "keys", "root_note": "C3"}),
    ("Bass/808_G.wav", {"category": "bass", "root_note": "G"}),
    ("Samples\\Kicks\\Hard 01.wav", {"category": "kick"}),
    ("One Shots/Rhodes_F#3.wav", {"category": "keys", "root_note": "F#3", "kind": "one_shot"}),
    ("FX_Riser_Long.wav", {"category": "fx"}),
    ("Cowbell_CB.wav", {"category": "cowbell"}),
]


@pytest.mark.parametrize(("path", "expected"), CASES)
def test_real_world_names(path: str, expected: dict[str, Any]) -> None:
    assert parse_hints(path).as_dict() == expected


@pytest.mark.parametrize(
    "path",
    [
        "Snare 03.wav",  # a sample number, not a tempo
        "Kick 120.wav",  # a one-shot's bare number
        "Crash 2019.wav",
        "Loops/Vol 2/kick.wav",  # bare numbers in folders never count
        "Loop 300.wav",  # out of range
        "Loop 45.wav",
    ],
)
def test_no_bpm(path: str) -> None:
    assert parse_hints(path).bpm is None


@pytest.mark.parametrize(
    "path",
    [
        "Amen break.wav",  # "Am" inside a word
        "Drum Loop.wav",  # "Dm" inside a word
        "snare.wav",
        "FM Bass.wav",  # FM is not F major
        "Kick_808_C#.wav",  # a note, not a key
        "Cmaj7 chord stab.wav",
        "Cb Hit.wav",  # a cowbell
        "Pad A.wav",
    ],
)
def test_no_key(path: str) -> None:
    assert parse_hints(path).key is None


@pytest.mark.parametrize(
    "path",
    ["Snare A.wav", "Kick B 02.wav", "RolandTR808__BD-01.flac", "Amen break.wav", "Cowbell_CB.wav"],
)
def test_no_root_note(path: str) -> None:
    assert parse_hints(path).root_note is None


@pytest.mark.parametrize(
    ("path", "category"),
    [
        ("RolandTB303__Bass_C2.wav", "bass"),  # TB303 is a model, not a tambourine
        ("RolandCR78__Kick.wav", "kick"),
        ("MachineName__Snare.flac", "snare"),
        ("Kicks/Snare_01.wav", "snare"),  # the file name beats the folder
        ("Snares/808.wav", "snare"),  # a specific folder beats a weak name
        ("misc/RolandTR808__01.flac", None),
    ],
)
def test_category_precedence(path: str, category: str | None) -> None:
    assert parse_hints(path).category == category


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("One Shot Kick.wav", "one_shot"),
        ("kick-one-shot.wav", "one_shot"),
        ("Oneshots/kick.wav", "one_shot"),
        ("Loops/one shots/kick.wav", "one_shot"),  # the nearer folder wins
        ("one shots/drum loop.wav", "loop"),  # the file name wins
        ("Kick.wav", None),
    ],
)
def test_kind(path: str, kind: str | None) -> None:
    assert parse_hints(path).kind == kind


def test_as_dict_drops_none_and_hints_are_frozen() -> None:
    hints = parse_hints("Kick.wav")
    assert hints.as_dict() == {"category": "kick"}
    assert FilenameHints().as_dict() == {}
    with pytest.raises(AttributeError):
        hints.bpm = 120.0  # type: ignore[misc]


def test_empty_and_invalid_input() -> None:
    assert parse_hints("").as_dict() == {}
    assert parse_hints("/").as_dict() == {}
    with pytest.raises(TypeError):
        parse_hints(None)  # type: ignore[arg-type]


def test_vocabulary_is_reusable() -> None:
    assert category_for_word("BD") == "kick"
    assert category_for_word("hihat") is None  # hats need open/closed context
    assert category_for_word("tamb") == "tambourine"
    words = [word for synonyms in CATEGORY_SYNONYMS.values() for word in synonyms]
    assert len(words) == len(set(words)), "a word must name one category"
    assert all(word == word.lower() for word in words)


@pytest.mark.parametrize(
    ("note", "pitch_class"),
    [("C", 0), ("C#2", 1), ("Db", 1), ("Eb minor", 3), ("B", 11), ("Cb", 11), ("x", None)],
)
def test_note_pitch_class(note: str, pitch_class: int | None) -> None:
    assert note_pitch_class(note) == pitch_class


@pytest.mark.corpus
def test_corpus_folders_and_names_agree() -> None:
    """The label folder gives the category; names mostly agree with it."""
    if not CORPUS.is_dir():
        pytest.skip("corpus not available")
    labels = {
        "bd": "kick", "sd": "snare", "cp": "clap", "rim": "rim", "hh": "closed_hat",
        "oh": "open_hat", "cr": "crash", "rd": "ride", "lt": "tom", "mt": "tom", "ht": "tom",
        "sh": "shaker", "tb": "tambourine", "cb": "cowbell", "perc": "percussion", "fx": "fx",
    }  # fmt: skip
    paths = [p for p in sorted(CORPUS.glob("*/*.flac")) if p.parent.name in labels]
    agree = sum(parse_hints(str(p)).category == labels[p.parent.name] for p in paths)
    named = [parse_hints(p.name).category for p in paths]
    right = sum(c == labels[p.parent.name] for c, p in zip(named, paths, strict=True))
    said = sum(c is not None for c in named)
    # Measured: 92.6 % agreement with folders; names alone 91.1 % precise, 81 % coverage.
    assert agree / len(paths) > 0.88
    assert right / said > 0.87
    assert said / len(paths) > 0.75
