"""Keys on the Camelot wheel: harmonic neighbours for "fits with this loop"."""

from __future__ import annotations

import re

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
# Camelot number of each major key by pitch class (C major = 8B); minor = relative (A minor = 8A).
_MAJOR_NUMBER = {"C": 8, "G": 9, "D": 10, "A": 11, "E": 12, "B": 1,
                 "F#": 2, "C#": 3, "G#": 4, "D#": 5, "A#": 6, "F": 7}  # fmt: skip
_KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*(major|minor|maj|min|m)?\s*$", re.IGNORECASE)


def normalize_key(text: str) -> str | None:
    """ "Am", "a minor", "Bbmaj", "F# major" → "A minor", "A# major", "F# major"."""
    match = _KEY_PATTERN.match(text)
    if not match:
        return None
    letter, accidental, quality = match.groups()
    tonic = letter.upper() + accidental
    tonic = FLAT_TO_SHARP.get(tonic, tonic)
    if quality and quality.lower() in ("minor", "min", "m") and quality != "M":
        return f"{tonic} minor"
    return f"{tonic} major"


def camelot_code(key: str | None) -> str | None:
    """ "A minor" → "8A", "C major" → "8B"; None for an unknown key."""
    if not key:
        return None
    normalized = normalize_key(key)
    if normalized is None:
        return None
    tonic, quality = normalized.split()
    if quality == "major":
        return f"{_MAJOR_NUMBER[tonic]}B"
    relative_major = PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + 3) % 12]
    return f"{_MAJOR_NUMBER[relative_major]}A"


def compatible_codes(code: str) -> list[str]:
    """The same key, its relative, and the neighbours one step round the wheel."""
    number, letter = int(code[:-1]), code[-1]
    other = "B" if letter == "A" else "A"
    up, down = number % 12 + 1, (number - 2) % 12 + 1
    return [code, f"{number}{other}", f"{up}{letter}", f"{down}{letter}"]
