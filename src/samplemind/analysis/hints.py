"""Filename and folder hints: tempo, key, root note, category and kind.

Producers' sample names carry a lot: ``Loop_124bpm_Am.wav``, ``Kick_808_C#.wav``,
``drums/loops/hiphop_92_Dmaj_break.wav``. :func:`parse_hints` reads the file
name and its folders (the nearest :data:`MAX_FOLDERS`); a value from the file
name wins over one from a folder, and a nearer folder over a farther one. In a
``SOURCE__NAME.wav`` name (the development corpus's ``MACHINE__NAME.flac``) the
prefix names a source and is read last, after the folders.

Rules (each chosen to avoid false hints; a missing hint costs less than a
wrong one):

* **bpm**, 50-250 only. Explicit forms anywhere (``124bpm``, ``90 BPM``,
  ``bpm_128``, ``87.5bpm``). A bare number in the *file name* counts only when
  the sound is a loop (loop/break/groove/beat/fill words in the name or a
  folder) or when the number sits right next to a key token
  (``Vox_Chop_Ebm_120``). ``Snare 03`` and ``Kick_808_C#`` give no bpm. Folder
  names only give explicit bpms.
* **key** needs an explicit quality: ``Am``, ``F#min``, ``Dmaj``, ``Ebm``,
  ``A minor``, ``C# Major``; normalised as ``"A minor"``, ``"C# major"``,
  ``"Eb minor"`` (the spelling is kept: ``Eb`` stays ``Eb``; compare keys with
  :func:`note_pitch_class`). A lone capital ``M`` is not read as major
  (``FM`` is frequency modulation). Tokens must be whole: the ``Am`` of
  ``Amen``, the ``Dm`` of ``Drum`` and the ``a`` of ``snare`` are not keys.
* **root_note** comes from a note with an octave (``C2`` -> ``"C2"``, octaves
  -1..6), a note with an accidental (``C#`` -> ``"C#"``), a chord's root
  (``Cmaj7``, ``Am7``, ``C7``, ``Dsus4`` -> ``"C"``, ``"A"``, ...) or, for
  tonal categories only (bass, keys, pad, synth, ...), a lone capital letter
  (``Pad C``) or a name with "808"; ``Snare A`` is a variant label, not a note. Chord names are not
  keys: a chord stab in C major 7 says nothing certain about the key.
* **category** from the words in :data:`CATEGORY_SYNONYMS` (and phrases such as
  "bass drum", "hi hat", "side stick"). Two-letter drum-machine codes (``BD``,
  ``SD``, ``HH``, ``OH``, ``CB``...) count only as a whole token or with at most
  two digits (``BD01``), so ``TB303`` is not a tambourine. ``Cb``/``CB`` is
  always a cowbell, never C flat. "808", "sub" and generic drum words (drums,
  break, kit) are weak: used only when nothing more specific is present. A hat
  word with "open" (or ``OH``) anywhere in the same name is an open hat, else
  a closed hat. The first specific word of a name wins.
* **kind**: loop words (loop, break, groove, beat, fill...) vs one-shot words
  (one shot, oneshot, one-shots, hit, shot, stab, chop); the first wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

__all__ = [
    "CATEGORY_SYNONYMS",
    "DRUM_CATEGORIES",
    "MAX_FOLDERS",
    "TONAL_CATEGORIES",
    "FilenameHints",
    "category_for_word",
    "note_pitch_class",
    "parse_hints",
]

Kind = Literal["one_shot", "loop"]

MAX_FOLDERS = 4
"""How many folders above the file are read (nearest first)."""
BPM_RANGE = (50.0, 250.0)

CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "kick": ("kick", "kicks", "kik", "kck", "bd", "bassdrum", "kickdrum"),
    "snare": ("snare", "snares", "snr", "sd", "sn", "snaredrum"),
    "clap": ("clap", "claps", "clp", "cp", "handclap", "snap", "snaps", "fingersnap"),
    "rim": ("rim", "rims", "rimshot", "rimshots", "rs", "sidestick", "rimclick"),
    "closed_hat": ("closedhat", "closedhh", "chh", "ch", "hhc", "pedalhat"),
    "open_hat": ("openhat", "openhh", "ohh", "oh", "hho"),
    "crash": ("crash", "crashes", "cr", "cymbal", "cymbals", "cym", "cy", "china", "splash"),
    "ride": ("ride", "rides", "rd"),
    "tom": (
        "tom",
        "toms",
        "tomtom",
        "lt",
        "mt",
        "ht",
        "floortom",
        "hitom",
        "midtom",
        "lotom",
        "lowtom",
        "hightom",
    ),
    "shaker": ("shaker", "shakers", "shk", "maracas", "maraca", "ma", "cabasa"),
    "tambourine": ("tambourine", "tamborine", "tamb", "tambo", "tb"),
    "cowbell": ("cowbell", "cowbells", "cowbel", "cb"),
    "percussion": (
        "perc",
        "percs",
        "percussion",
        "conga",
        "congas",
        "bongo",
        "bongos",
        "timbale",
        "timbales",
        "agogo",
        "clave",
        "claves",
        "woodblock",
        "triangle",
        "guiro",
        "whistle",
        "djembe",
        "tabla",
        "cajon",
    ),
    "fx": (
        "fx",
        "sfx",
        "riser",
        "risers",
        "impact",
        "impacts",
        "sweep",
        "sweeps",
        "whoosh",
        "uplifter",
        "downlifter",
        "transition",
        "zap",
    ),
    "bass": ("bass", "basses", "bassline", "reese"),
    "keys": ("keys", "piano", "rhodes", "epiano", "organ", "wurli", "wurlitzer", "clav"),
    "pad": ("pad", "pads", "drone"),
    "vocal": ("vox", "vocal", "vocals", "voc", "voice", "acapella", "acappella", "chant"),
    "synth": ("synth", "synths", "lead", "leads", "pluck", "plucks", "arp", "stab", "stabs"),
    "guitar": ("guitar", "guitars", "gtr"),
    "strings": ("strings", "violin", "cello"),
    "brass": ("brass", "horn", "horns", "trumpet", "sax"),
}
"""Canonical category -> words that name it (lowercase; shared with search)."""

WEAK_SYNONYMS: dict[str, tuple[str, ...]] = {
    "kick": ("808", "808s"),
    "bass": ("sub", "subs"),
    "drums": ("drum", "drums", "break", "breaks", "breakbeat", "kit", "beat", "beats"),
}
"""Words that hint a category only when nothing more specific is present."""

DRUM_CATEGORIES = frozenset(
    {
        "kick",
        "snare",
        "clap",
        "rim",
        "closed_hat",
        "open_hat",
        "crash",
        "ride",
        "tom",
        "shaker",
        "tambourine",
        "cowbell",
        "percussion",
        "drums",
    }
)
TONAL_CATEGORIES = frozenset(
    {"bass", "keys", "pad", "vocal", "synth", "guitar", "strings", "brass"}
)

_PHRASES: dict[tuple[str, str], str] = {
    ("bass", "drum"): "kick",
    ("kick", "drum"): "kick",
    ("snare", "drum"): "snare",
    ("side", "stick"): "rim",
    ("floor", "tom"): "tom",
    ("finger", "snap"): "clap",
    ("hand", "clap"): "clap",
    ("hi", "hat"): "_hat",
    ("high", "hat"): "_hat",
    ("sub", "bass"): "bass",
}
_HAT_WORDS = frozenset({"hat", "hats", "hihat", "hihats", "hh", "hhs"})
_OPEN_WORDS = frozenset({"open", "opened", "opn", "oh", "ohh"})
# Codes read only as a whole token (optionally with <= 2 digits) or inside a
# letters-only token, never glued to a model number (TB303, CR78 in RolandCR78).
_CODES = frozenset(
    {
        "bd",
        "sd",
        "sn",
        "cp",
        "rs",
        "hh",
        "ch",
        "oh",
        "cr",
        "rd",
        "lt",
        "mt",
        "ht",
        "tb",
        "cb",
        "cy",
        "ma",
        "fx",
    }
)
_PREFIX_WORDS = (
    "kick",
    "snare",
    "clap",
    "crash",
    "hihat",
    "shaker",
    "cowbell",
    "tambourine",
    "conga",
    "bongo",
    "cymbal",
    "rimshot",
    "perc",
    "bassdrum",
)
_LOOP_WORDS = frozenset(
    {
        "loop",
        "loops",
        "looped",
        "break",
        "breaks",
        "breakbeat",
        "breakbeats",
        "groove",
        "grooves",
        "beat",
        "beats",
        "fill",
        "fills",
        "drumloop",
        "drumloops",
    }
)
_ONE_SHOT_WORDS = frozenset(
    {"oneshot", "oneshots", "hit", "hits", "shot", "shots", "stab", "stabs", "chop", "chops"}
)

_NOTE = r"(?P<letter>[A-Ga-g])(?P<acc>#|♯|b|♭)?"
_KEY_TOKEN = re.compile(_NOTE + r"(?P<quality>m|(?i:min|minor|maj|major))$")
_QUALITY_TOKEN = re.compile(r"(?i:min|minor|maj|major)$")
_BARE_NOTE = re.compile(r"(?P<letter>[A-G])(?P<acc>#|♯|b|♭)?$")
_OCTAVE_NOTE = re.compile(r"(?P<letter>[A-G])(?P<acc>#|♯|b|♭)?(?P<octave>-1|[0-6])$")
_CHORD = re.compile(
    r"(?P<letter>[A-G])(?P<acc>#|♯|b|♭)?"
    r"(?:maj7|maj9|min7|min9|m7b5|m7|m9|m11|madd9|add9|sus2|sus4|sus|dim7|dim|aug|7|9|11|13|6)$"
)
_BARE_NUMBER = re.compile(r"[1-9]\d{1,2}(?:\.\d+)?$")
_EXPLICIT_BPM = (
    re.compile(r"(?i)(?<![\d.])(\d{2,3}(?:\.\d+)?)[\s_\-]*bpm(?![a-z])"),
    re.compile(r"(?i)(?<![a-z])bpm[\s_\-]*(\d{2,3}(?:\.\d+)?)(?![\d.])"),
)
_SPLIT = re.compile(r"[\s_\-,;:+&()\[\]{}'\"!~=@/|]+")
_SUBTOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+(?:\.\d+)?")
_CODE_WITH_DIGITS = re.compile(r"(?P<code>[A-Za-z]{2})\d{0,2}$")
_PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class FilenameHints:
    """What a file's name and folders say; ``None`` where they say nothing.

    Attributes:
        bpm: tempo in beats per minute (50-250).
        key: ``"A minor"``, ``"C# major"``, ``"Eb minor"``...
        root_note: ``"C#2"``, or ``"C#"`` without an octave.
        category: a key of :data:`CATEGORY_SYNONYMS`, or ``"drums"``.
        kind: ``"one_shot"`` or ``"loop"``.
    """

    bpm: float | None = None
    key: str | None = None
    root_note: str | None = None
    category: str | None = None
    kind: Kind | None = None

    def as_dict(self) -> dict[str, Any]:
        """The hints that are set, as a plain dict."""
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class _Word:
    text: str  # lowercase
    token: int  # index of the raw token it came from


def parse_hints(path: str) -> FilenameHints:
    """Read tempo, key, root note, category and kind from a path.

    Args:
        path: a file name or path, ``/`` or ``\\`` separated; the extension is
            ignored.

    Returns:
        The hints; every field is ``None`` when the name says nothing about it.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, got {type(path).__name__}")
    parts = [part for part in path.replace("\\", "/").split("/") if part]
    if not parts:
        return FilenameHints()
    stem = _strip_extension(parts[-1])
    # "MACHINE__NAME": the prefix names a source, read after the folders.
    prefix, _, rest = stem.rpartition("__") if "__" in stem else ("", "", stem)
    name_tokens = _raw_tokens(rest)
    name_words = _words(name_tokens)
    folders = [_folder(part) for part in reversed(parts[-1 - MAX_FOLDERS : -1])]
    if prefix:
        folders.append(_folder(prefix))

    kind = _first([_kind(name_words), *(folder.kind for folder in folders)])
    # Specific words anywhere beat weak ones ("Bass/808_G.wav" is a bass).
    found = [_category(name_words), *(folder.category for folder in folders)]
    category = _first([strong for strong, _ in found] + [weak for _, weak in found])
    key = _first([_key(name_tokens), *(folder.key for folder in folders)])
    bpm = _first([_bpm(name_tokens, is_loop=kind == "loop"), *(folder.bpm for folder in folders)])
    return FilenameHints(
        bpm=bpm,
        key=key,
        root_note=_root_note(name_tokens, category=category),
        category=category,
        kind=kind,
    )


@dataclass(frozen=True)
class _FolderHints:
    """What one folder name (or a ``MACHINE__`` prefix) says on its own."""

    kind: Kind | None
    category: tuple[str | None, str | None]  # (specific, weak)
    key: str | None
    bpm: float | None  # explicit ones only ("120bpm"): a bare number in a folder is not a tempo


@lru_cache(maxsize=4096)
def _folder(text: str) -> _FolderHints:
    """The hints of one folder name; cached, since a library's files share their folders."""
    tokens = _raw_tokens(text)
    words = _words(tokens)
    return _FolderHints(
        kind=_kind(words), category=_category(words), key=_key(tokens), bpm=_explicit_bpm(tokens)
    )


def category_for_word(word: str) -> str | None:
    """The canonical category a single word names (strong synonyms only), or ``None``."""
    return _WORD_TO_CATEGORY.get(word.lower())


def note_pitch_class(note: str) -> int | None:
    """Pitch class 0-11 (C = 0) of a note name such as ``"C#"``, ``"Eb2"`` or ``"A minor"``."""
    match = re.match(r"\s*([A-Ga-g])(#|♯|b|♭)?", note)
    if match is None:
        return None
    shift = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(match.group(2) or "", 0)
    return (_PITCH_CLASSES[match.group(1).upper()] + shift) % 12


# ------------------------------------------------------------------ tokens
def _strip_extension(name: str) -> str:
    return re.sub(r"\.[A-Za-z0-9]{1,5}$", "", name)


def _raw_tokens(text: str) -> list[str]:
    """Split on punctuation and spaces; keep decimals (87.5) and accidentals (C#)."""
    text = re.sub(r"(?i)\be[\s_\-]?piano", "epiano", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return [token for token in _SPLIT.split(text) if token]


def _words(tokens: Sequence[str]) -> list[_Word]:
    """Lowercase words in reading order: whole codes, then camelCase/digit pieces."""
    words: list[_Word] = []
    for index, token in enumerate(tokens):
        code = _CODE_WITH_DIGITS.match(token)
        if code and code.group("code").lower() in _CODES:
            words.append(_Word(code.group("code").lower(), index))
            continue
        letters_only = token.isalpha()
        for piece in _SUBTOKEN.findall(token):
            lower = piece.lower()
            if lower in _CODES and not letters_only:
                continue
            if lower.isdigit() and token.lower() not in {"808", "808s"}:
                continue
            words.append(_Word(lower, index))
    return words


def _first(values: Iterable[Any]) -> Any:
    return next((value for value in values if value is not None), None)


# ------------------------------------------------------------------ category / kind
def _build_word_map(synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {word: category for category, words in synonyms.items() for word in words}


_WORD_TO_CATEGORY = _build_word_map(CATEGORY_SYNONYMS)
_WEAK_WORD_TO_CATEGORY = _build_word_map(WEAK_SYNONYMS)


def _word_category(word: str) -> str | None:
    if word in _HAT_WORDS:
        return "_hat"
    found = _WORD_TO_CATEGORY.get(word)
    if found is None and len(word) > 4 and word.endswith("s"):
        found = _WORD_TO_CATEGORY.get(word[:-1])
    if found is None:
        prefix = next((p for p in _PREFIX_WORDS if word.startswith(p)), None)
        found = _WORD_TO_CATEGORY.get(prefix) if prefix else None
    return found


def _category(words: Sequence[_Word]) -> tuple[str | None, str | None]:
    """``(specific, weak)`` categories named by the words."""
    texts = [word.text for word in words]
    strong: str | None = None
    index = 0
    while index < len(texts) and strong is None:
        pair = tuple(texts[index : index + 2])
        if len(pair) == 2 and pair in _PHRASES:
            strong = _PHRASES[pair]
        else:
            strong = _word_category(texts[index])
        index += 1
    if strong == "_hat":
        strong = "open_hat" if _OPEN_WORDS.intersection(texts) else "closed_hat"
    return strong, _first(_WEAK_WORD_TO_CATEGORY.get(text) for text in texts)


def _kind(words: Sequence[_Word]) -> Kind | None:
    texts = [word.text for word in words]
    for index, text in enumerate(texts):
        if text in _LOOP_WORDS:
            return "loop"
        if text in _ONE_SHOT_WORDS:
            return "one_shot"
        if text == "one" and index + 1 < len(texts) and texts[index + 1] in {"shot", "shots"}:
            return "one_shot"
    return None


# ------------------------------------------------------------------ bpm
def _in_range(value: float) -> float | None:
    return value if BPM_RANGE[0] <= value <= BPM_RANGE[1] else None


def _explicit_bpm(tokens: Sequence[str]) -> float | None:
    text = " ".join(tokens)
    for pattern in _EXPLICIT_BPM:
        for match in pattern.finditer(text):
            value = _in_range(float(match.group(1)))
            if value is not None:
                return value
    return None


def _bpm(tokens: Sequence[str], *, is_loop: bool) -> float | None:
    explicit = _explicit_bpm(tokens)
    if explicit is not None:
        return explicit
    key_positions = {i for i, token in enumerate(tokens) if _key_at(tokens, i) is not None}
    for index, token in enumerate(tokens):
        if not _BARE_NUMBER.match(token):
            continue
        next_to_key = bool({index - 1, index + 1} & key_positions)
        if is_loop or next_to_key:
            value = _in_range(float(token))
            if value is not None:
                return value
    return None


# ------------------------------------------------------------------ key / root note
def _accidental(symbol: str | None) -> str:
    return {"#": "#", "♯": "#", "b": "b", "♭": "b"}.get(symbol or "", "")


def _key_at(tokens: Sequence[str], index: int) -> str | None:
    """The key named by ``tokens[index]`` (``Am``) or with the next token (``A minor``)."""
    token = tokens[index]
    match = _KEY_TOKEN.match(token)
    quality: str | None = None
    if match and token.lower() != "cb":
        quality = match.group("quality")
    elif index + 1 < len(tokens) and _QUALITY_TOKEN.match(tokens[index + 1]):
        match = re.match(_NOTE + "$", token)
        quality = tokens[index + 1] if match else None
    if match is None or quality is None:
        return None
    mode = "minor" if quality == "m" or quality.lower().startswith("min") else "major"
    return f"{match.group('letter').upper()}{_accidental(match.group('acc'))} {mode}"


def _key(tokens: Sequence[str]) -> str | None:
    return next((k for i in range(len(tokens)) if (k := _key_at(tokens, i)) is not None), None)


def _root_note(tokens: Sequence[str], *, category: str | None) -> str | None:
    for index, token in enumerate(tokens):
        if _key_at(tokens, index) is not None or token.lower() == "cb":
            continue
        match = _OCTAVE_NOTE.match(token)
        if match:
            note = match.group("letter") + _accidental(match.group("acc"))
            return note + match.group("octave")
        match = _CHORD.match(token) or _BARE_NOTE.match(token)
        if match is None:
            continue
        tonal = category in TONAL_CATEGORIES or any(t.lower() in {"808", "808s"} for t in tokens)
        if match.group("acc") or match.re is _CHORD or tonal:
            return match.group("letter") + _accidental(match.group("acc"))
    return None
