"""Known-answer signals for chroma and key: chord progressions in any key.

Voices are additive synths (sums of harmonic partials with decaying
envelopes), so the pitch content is known exactly. Progressions are written
in scale degrees and rendered in any of the 24 major/minor keys, with chosen
instruments, voicings, octaves, an optional bass line and an optional drum
loop on top. Every generator returns float32 mono samples at ``sample_rate``
(default 22050 Hz) and is deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..signal import ANALYSIS_SAMPLE_RATE
from . import rhythm as drums

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
Mode = Literal["major", "minor"]
Instrument = Literal["saw", "square", "organ", "piano", "triangle", "sine", "pluck", "pad"]
Voicing = Literal["close", "first_inversion", "second_inversion", "open", "spread"]

INSTRUMENTS: tuple[Instrument, ...] = (
    "saw",
    "square",
    "organ",
    "piano",
    "triangle",
    "sine",
    "pluck",
    "pad",
)
VOICINGS: tuple[Voicing, ...] = ("close", "first_inversion", "second_inversion", "open", "spread")


@dataclass(frozen=True)
class Chord:
    """A chord on a scale degree: ``root`` semitones above the tonic, and its intervals."""

    root: int
    intervals: tuple[int, ...]
    beats: int = 4


_MAJ, _MIN, _DOM7 = (0, 4, 7), (0, 3, 7), (0, 4, 7, 10)

PROGRESSIONS: dict[str, tuple[Mode, tuple[Chord, ...]]] = {
    "I-IV-V-I": ("major", (Chord(0, _MAJ), Chord(5, _MAJ), Chord(7, _MAJ), Chord(0, _MAJ))),
    "I-vi-IV-V": ("major", (Chord(0, _MAJ), Chord(9, _MIN), Chord(5, _MAJ), Chord(7, _MAJ))),
    "I-V-vi-IV": ("major", (Chord(0, _MAJ), Chord(7, _MAJ), Chord(9, _MIN), Chord(5, _MAJ))),
    "ii-V7-I": ("major", (Chord(2, _MIN), Chord(7, _DOM7), Chord(0, _MAJ, beats=8))),
    "i-iv-v-i": ("minor", (Chord(0, _MIN), Chord(5, _MIN), Chord(7, _MIN), Chord(0, _MIN))),
    "i-iv-V-i": ("minor", (Chord(0, _MIN), Chord(5, _MIN), Chord(7, _MAJ), Chord(0, _MIN))),
    # The tonic held two bars: with one bar each this is the relative major's vi-IV-I-V.
    "i-VI-III-VII": (
        "minor",
        (Chord(0, _MIN, beats=8), Chord(8, _MAJ), Chord(3, _MAJ), Chord(10, _MAJ)),
    ),
    "i-VI-VII-i": ("minor", (Chord(0, _MIN), Chord(8, _MAJ), Chord(10, _MAJ), Chord(0, _MIN))),
    "i-VI-III-V": (
        "minor",
        (Chord(0, _MIN, beats=8), Chord(8, _MAJ), Chord(3, _MAJ), Chord(7, _MAJ)),
    ),
}
"""Named progressions: the mode they establish and their chords (one bar each by default)."""


def key_name(tonic: int, mode: Mode) -> str:
    """``"A minor"``-style name of the key on pitch class ``tonic`` (0 = C)."""
    return f"{PITCH_CLASSES[tonic % 12]} {mode}"


def all_keys() -> list[tuple[int, Mode]]:
    """The 24 keys as ``(tonic pitch class, mode)``, majors first."""
    return [(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]


def midi_to_hz(midi: float) -> float:
    """Frequency in Hz of MIDI note ``midi`` (69 = A4 = 440 Hz)."""
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))


def tone(
    midi: float,
    *,
    duration: float,
    instrument: Instrument = "saw",
    amplitude: float = 0.2,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """One note of an additive instrument, float32 ``(round(duration * sample_rate),)``.

    Partials stop below the Nyquist frequency; a pluck or piano decays, pads and
    organs sustain; every note has a 5 ms attack and a 30 ms release.
    """
    if duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if instrument not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {instrument!r}; choose from {INSTRUMENTS}")
    t = np.arange(round(duration * sample_rate)) / sample_rate
    f0 = midi_to_hz(midi)
    harmonics = np.arange(1, int(0.45 * sample_rate / f0) + 1)
    amplitudes = _partial_amplitudes(instrument, harmonics)
    decays = _partial_decays(instrument, harmonics, f0)
    index = ((f0 * t) % 1.0 * _TABLE_SIZE).astype(np.int64)
    y = np.zeros(t.size)
    # Partials within an octave band share one envelope and one wavetable;
    # sustained partials all share one.
    band = (
        np.floor(np.log2(harmonics)).astype(np.int64)
        if np.isfinite(decays).any()
        else 0 * harmonics
    )
    for b in np.unique(band):
        members = band == b
        table = _wavetable(harmonics[members], amplitudes[members])
        decay = float(np.exp(np.mean(np.log(decays[members]))))
        envelope = np.exp(-t / decay) if math.isfinite(decay) else 1.0
        y += envelope * table[index]
    edges = np.clip(np.minimum(t / 0.005, (duration - t) / 0.03), 0.0, 1.0)
    note: np.ndarray = (amplitude * y * edges).astype(np.float32)
    return note


_TABLE_SIZE = 16384


def _wavetable(harmonics: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """One cycle of the partials, sampled at ``_TABLE_SIZE`` points."""
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    # sin(2 pi h x + 0.7 h) as an inverse real FFT: a cosine shifted by -pi/2.
    spectrum[harmonics] = (
        0.5 * _TABLE_SIZE * amplitudes * np.exp(1j * (0.7 * harmonics - np.pi / 2))
    )
    cycle: np.ndarray = np.fft.irfft(spectrum, _TABLE_SIZE)
    return cycle


_ORGAN_DRAWBARS = np.array([0.0, 1.0, 0.6, 0.5, 0.35, 0.0, 0.2, 0.0, 0.15, 0.0])
"""Organ partial levels by harmonic number (index 9 and up: silent)."""


def _partial_amplitudes(instrument: Instrument, h: np.ndarray) -> np.ndarray:
    odd = h % 2 == 1
    table: dict[str, np.ndarray] = {
        "saw": 1.0 / h,
        "square": odd / h,
        "triangle": odd / h**2,
        "sine": np.where(h == 1, 1.0, np.where(h <= 3, 0.15 / h, 0.0)),
        "organ": _ORGAN_DRAWBARS[np.minimum(h, _ORGAN_DRAWBARS.size - 1)],
        "piano": 1.0 / h**1.3,
        "pluck": 1.0 / h**1.1,
        "pad": 1.0 / h**1.6,
    }
    return table[instrument]


def _partial_decays(instrument: Instrument, h: np.ndarray, f0: float) -> np.ndarray:
    """Amplitude time constants (s) per partial; ``inf`` sustains."""
    if instrument == "piano":
        decays: np.ndarray = 1.2 * (261.6 / f0) ** 0.3 / h**0.5
        return decays
    if instrument == "pluck":
        return 0.5 / h**0.7
    return np.full(h.size, np.inf)


def voice_chord(
    tonic: int,
    chord: Chord,
    *,
    voicing: Voicing = "close",
    octave: int = 4,
) -> list[int]:
    """MIDI notes of ``chord`` in the key on ``tonic``, voiced around octave ``octave``."""
    root = 12 * (octave + 1) + (tonic + chord.root) % 12
    notes = [root + i for i in chord.intervals]
    if voicing == "first_inversion":
        notes = [*notes[1:], notes[0] + 12]
    elif voicing == "second_inversion":
        notes = [*notes[2:], notes[0] + 12, notes[1] + 12]
    elif voicing == "open":
        notes = [notes[0], notes[2], notes[1] + 12, *(n + 12 for n in notes[3:])]
    elif voicing == "spread":
        notes = [notes[0] - 12, notes[0], notes[2], notes[1] + 12, *(n + 12 for n in notes[3:])]
    # Keep the top voice below about C6 so keys on B and C sound alike.
    while max(notes) > 84:
        notes = [n - 12 for n in notes]
    return notes


def progression(
    tonic: int,
    name: str,
    *,
    bpm: float = 100.0,
    instrument: Instrument = "saw",
    voicing: Voicing = "close",
    octave: int = 4,
    bass: bool = False,
    drum_pattern: str | None = None,
    repeats: int = 1,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """Render a named progression in the key on pitch class ``tonic``.

    Args:
        tonic: 0 = C … 11 = B; the key's mode is the progression's.
        name: a key of :data:`PROGRESSIONS`.
        bpm: tempo; a chord of ``beats`` beats lasts ``beats * 60 / bpm`` s.
        instrument, voicing, octave: how the chords sound.
        bass: add the chord roots two octaves down on a sine-ish bass.
        drum_pattern: a key of :data:`drums.PATTERNS` to mix a drum loop on top.
        repeats: play the progression this many times.
        seed: varies the drums.

    Returns:
        float32 mono, peak 0.9.
    """
    if name not in PROGRESSIONS:
        raise ValueError(f"unknown progression {name!r}; choose from {sorted(PROGRESSIONS)}")
    _, chords = PROGRESSIONS[name]
    beat_s = 60.0 / bpm
    total_beats = repeats * sum(c.beats for c in chords)
    y = np.zeros(round(total_beats * beat_s * sample_rate))
    start_beat = 0
    for chord in list(chords) * repeats:
        length = chord.beats * beat_s
        offset = round(start_beat * beat_s * sample_rate)
        for note in voice_chord(tonic, chord, voicing=voicing, octave=octave):
            sound = tone(note, duration=length, instrument=instrument, sample_rate=sample_rate)
            drums.mix_at(y, sound, offset)
        if bass:
            root = 36 + (tonic + chord.root) % 12  # C2..B2
            sound = tone(
                root, duration=length, instrument="sine", amplitude=0.35, sample_rate=sample_rate
            )
            drums.mix_at(y, sound, offset)
        start_beat += chord.beats
    if drum_pattern is not None:
        bars = max(1, round(total_beats / 4))
        beat = drums.drum_loop(
            bpm, pattern=drum_pattern, bars=bars, seed=seed, sample_rate=sample_rate
        )
        n = min(beat.size, y.size)
        y = y / (np.max(np.abs(y)) + 1e-12)
        y[:n] += 0.8 * beat[:n]
    return drums.normalised(y, 0.9)


@dataclass(frozen=True)
class KeyExample:
    """A rendered progression and its known key."""

    key: str
    progression: str
    instrument: Instrument
    voicing: Voicing
    samples: np.ndarray


TRAIN_INSTRUMENTS: tuple[Instrument, ...] = ("saw", "square", "organ", "pluck", "sine")
TEST_INSTRUMENTS: tuple[Instrument, ...] = ("piano", "triangle", "pad")
"""Key-finding parameters were chosen on the first set; accuracy is measured on the second."""


def key_examples(
    count: int,
    *,
    split: Literal["train", "test"] = "test",
    seed: int = 22,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> list[KeyExample]:
    """``count`` progressions cycling through the 24 keys, with random settings.

    The ``"train"`` split uses :data:`TRAIN_INSTRUMENTS` and close voicings and
    inversions in octaves 3-4; ``"test"`` uses :data:`TEST_INSTRUMENTS`, open,
    spread, close and second-inversion voicings in octaves 3-5. Either split
    adds a bass line half the time and a drum loop 40 % of the time.
    """
    rng = np.random.default_rng(seed)
    train = split == "train"
    instruments = TRAIN_INSTRUMENTS if train else TEST_INSTRUMENTS
    voicings: tuple[Voicing, ...] = (
        ("close", "first_inversion", "second_inversion")
        if train
        else ("open", "spread", "close", "second_inversion")
    )
    octaves = (3, 4) if train else (4, 5, 3)
    examples = []
    for i in range(count):
        tonic, mode = all_keys()[i % 24]
        names = [name for name, (m, _) in PROGRESSIONS.items() if m == mode]
        name = names[int(rng.integers(len(names)))]
        instrument = instruments[int(rng.integers(len(instruments)))]
        voicing = voicings[int(rng.integers(len(voicings)))]
        samples = progression(
            tonic,
            name,
            bpm=float(rng.uniform(80, 140)),
            instrument=instrument,
            voicing=voicing,
            octave=int(octaves[int(rng.integers(len(octaves)))]),
            bass=bool(rng.random() < 0.5),
            drum_pattern=(
                sorted(drums.PATTERNS)[int(rng.integers(len(drums.PATTERNS)))]
                if rng.random() < 0.4
                else None
            ),
            seed=i,
            sample_rate=sample_rate,
        )
        examples.append(KeyExample(key_name(tonic, mode), name, instrument, voicing, samples))
    return examples
