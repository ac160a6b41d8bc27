"""Known-answer signals for onsets, one-shot/loop detection and tempo.

Drum sounds are simple physical-ish models (a pitch-swept sine kick, a tone plus
noise snare, band-passed noise hats and claps); loops place them on a 16-step
grid so their tempo is known exactly. Loops are cut to a whole number of bars,
as exported loops are. Every generator returns float32 mono samples at
``sample_rate`` (default 22050 Hz, the analysis rate) and is deterministic for a
given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.signal

from ..signal import ANALYSIS_SAMPLE_RATE

HatGrid = Literal["none", "8ths", "16ths", "offbeat"]
"""Closed hi-hats on every 8th, every 16th, open hats on the off-beat 8ths, or none."""


@dataclass(frozen=True)
class DrumPattern:
    """One bar of 4/4 on a 16-step grid: the steps each voice plays.

    Steps are 16th notes, ``0`` is the downbeat, beats fall on 0, 4, 8 and 12.
    """

    kick: tuple[int, ...]
    snare: tuple[int, ...] = ()
    clap: tuple[int, ...] = ()


PATTERNS: dict[str, DrumPattern] = {
    # Kick on every beat: the beat is the kick (house, techno).
    "four_on_floor": DrumPattern(kick=(0, 4, 8, 12)),
    "house": DrumPattern(kick=(0, 4, 8, 12), clap=(4, 12)),
    # Back-beat patterns: snare on beats 2 and 4 of the named tempo.
    "rock": DrumPattern(kick=(0, 8), snare=(4, 12)),
    "rock_push": DrumPattern(kick=(0, 8, 10), snare=(4, 12)),
    "hiphop": DrumPattern(kick=(0, 7, 10), snare=(4, 12)),
    "boom_bap": DrumPattern(kick=(0, 3, 10), snare=(4, 12)),
    "dnb": DrumPattern(kick=(0, 10), snare=(4, 12)),
    "funk": DrumPattern(kick=(0, 6, 10), snare=(4, 12)),
}
"""Named one-bar patterns; every one names its tempo by the quarter note."""


def _time(duration: float, sample_rate: int) -> np.ndarray:
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    return np.arange(round(duration * sample_rate)) / sample_rate


def _band_noise(
    n: int, low_hz: float, high_hz: float, *, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """White noise band-passed to ``[low_hz, high_hz]`` (4th-order Butterworth)."""
    nyquist = sample_rate / 2
    sos = scipy.signal.butter(
        4, [low_hz / nyquist, min(high_hz / nyquist, 0.99)], btype="band", output="sos"
    )
    return scipy.signal.sosfilt(sos, rng.standard_normal(n))  # type: ignore[no-any-return]


def kick(
    *,
    start_hz: float = 160.0,
    end_hz: float = 50.0,
    decay_s: float = 0.12,
    duration: float = 0.5,
    click: float = 0.3,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A kick: a sine swept from ``start_hz`` down to ``end_hz`` with an exponential decay.

    ``decay_s`` is the amplitude time constant; ``click`` the level of a 3 ms
    noise click at the attack. Returns float32, peak about 0.9.
    """
    t = _time(duration, sample_rate)
    rng = np.random.default_rng(seed)
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    body = np.sin(phase) * np.exp(-t / decay_s)
    attack = click * rng.standard_normal(t.size) * np.exp(-t / 0.003)
    return normalised(body + attack, 0.9)


def bass_808(
    *,
    freq_hz: float = 49.0,
    decay_s: float = 0.9,
    duration: float = 3.0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A long 808-style bass drum: a slightly swept sine with a slow decay."""
    t = _time(duration, sample_rate)
    freq = freq_hz * (1 + 0.5 * np.exp(-t / 0.02))
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    body = np.tanh(1.5 * np.sin(phase)) * np.exp(-t / decay_s)
    return normalised(body, 0.9)


def snare(
    *,
    tone_hz: float = 190.0,
    decay_s: float = 0.09,
    noise_level: float = 0.8,
    duration: float = 0.35,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A snare: a short decaying tone at ``tone_hz`` plus band-passed noise."""
    t = _time(duration, sample_rate)
    rng = np.random.default_rng(seed)
    tone = np.sin(2 * np.pi * tone_hz * t) * np.exp(-t / 0.05)
    noise = _band_noise(t.size, 900.0, 9000.0, rng=rng, sample_rate=sample_rate)
    noise = noise / (np.max(np.abs(noise)) + 1e-12) * np.exp(-t / decay_s)
    return normalised(tone + noise_level * noise, 0.8)


def clap(
    *, decay_s: float = 0.12, seed: int = 0, sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray:
    """A hand clap: three quick noise bursts 10 ms apart, then a band-passed decay."""
    t = _time(0.4, sample_rate)
    rng = np.random.default_rng(seed)
    noise = _band_noise(t.size, 800.0, 3500.0, rng=rng, sample_rate=sample_rate)
    envelope = np.exp(-np.maximum(t - 0.02, 0.0) / decay_s) * (t >= 0.02)
    for start in (0.0, 0.01):
        envelope += ((t >= start) & (t < start + 0.01)) * np.exp(-(t - start) / 0.004)
    return normalised(noise * envelope, 0.8)


def hat(
    *,
    open_: bool = False,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A hi-hat: high-passed noise, closed (40 ms decay) or open (250 ms)."""
    decay_s = 0.25 if open_ else 0.035
    t = _time(0.8 if open_ else 0.15, sample_rate)
    rng = np.random.default_rng(seed)
    noise = _band_noise(t.size, 6500.0, 10500.0, rng=rng, sample_rate=sample_rate)
    return normalised(noise * np.exp(-t / decay_s), 0.6)


def crash(
    *, duration: float = 4.0, seed: int = 0, sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray:
    """A crash cymbal: broadband noise with a 1.2 s decay (a long one-shot)."""
    t = _time(duration, sample_rate)
    rng = np.random.default_rng(seed)
    noise = _band_noise(t.size, 2500.0, 10500.0, rng=rng, sample_rate=sample_rate)
    return normalised(noise * np.exp(-t / 1.2) * (1 - np.exp(-t / 0.002)), 0.8)


def tom(
    *, freq_hz: float = 110.0, seed: int = 0, sample_rate: int = ANALYSIS_SAMPLE_RATE
) -> np.ndarray:
    """A tom: a slightly falling sine with a 0.2 s decay."""
    return kick(
        start_hz=freq_hz * 1.3,
        end_hz=freq_hz,
        decay_s=0.2,
        duration=0.8,
        click=0.15,
        seed=seed,
        sample_rate=sample_rate,
    )


def click(*, accent: bool = False, sample_rate: int = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    """A metronome click: a 30 ms sine blip at 1 kHz, 1.5 kHz when ``accent``."""
    t = _time(0.03, sample_rate)
    freq = 1500.0 if accent else 1000.0
    return normalised(np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.006), 0.8)


def click_loop(
    bpm: float,
    *,
    bars: int = 2,
    beats_per_bar: int = 4,
    accent: bool = True,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """Metronome clicks on every beat, cut to exactly ``bars`` bars.

    Returns:
        float32, shape ``(round(bars * beats_per_bar * 60 / bpm * sample_rate),)``.
    """
    _check_loop_args(bpm, bars)
    beat_s = 60.0 / bpm
    y = np.zeros(round(bars * beats_per_bar * beat_s * sample_rate))
    for beat in range(bars * beats_per_bar):
        sound = click(accent=accent and beat % beats_per_bar == 0, sample_rate=sample_rate)
        _add_at(y, sound, beat * beat_s, sample_rate)
    return y.astype(np.float32)


def drum_loop(
    bpm: float,
    *,
    pattern: str = "rock",
    bars: int = 2,
    hats: HatGrid = "8ths",
    fill: bool = False,
    ghost_notes: bool = False,
    seed: int = 0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
) -> np.ndarray:
    """A drum loop of ``bars`` bars of 4/4 at ``bpm``, cut to exactly that length.

    Args:
        bpm: the tempo, quarter notes per minute (the named tempo of every
            pattern in :data:`PATTERNS`).
        pattern: a key of :data:`PATTERNS`.
        bars: whole bars in the loop (``>= 1``).
        hats: the hi-hat grid.
        fill: replace the last beat of the last bar with four snare 16ths.
        ghost_notes: add quiet snare ghost notes on a few 16ths.
        seed: varies the drum sounds (pitches, decays) and velocities.

    Returns:
        float32, shape ``(round(bars * 240 / bpm * sample_rate),)``; sounds
        still ringing at the end are cut, as a loop export does.
    """
    _check_loop_args(bpm, bars)
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; choose from {sorted(PATTERNS)}")
    rng = np.random.default_rng(seed)
    kit = _random_kit(rng, sample_rate)
    step_s = 15.0 / bpm
    y = np.zeros(round(bars * 16 * step_s * sample_rate))
    events = _pattern_events(PATTERNS[pattern], bars, hats, fill, ghost_notes, rng)
    for voice, step, velocity in events:
        _add_at(y, velocity * kit[voice], step * step_s, sample_rate)
    return normalised(y, 0.9)


def _random_kit(rng: np.random.Generator, sample_rate: int) -> dict[str, np.ndarray]:
    seed = int(rng.integers(1 << 30))
    return {
        "kick": kick(
            start_hz=rng.uniform(120, 200),
            end_hz=rng.uniform(42, 60),
            decay_s=rng.uniform(0.08, 0.2),
            click=rng.uniform(0.1, 0.5),
            seed=seed,
            sample_rate=sample_rate,
        ),
        "snare": snare(
            tone_hz=rng.uniform(160, 240),
            decay_s=rng.uniform(0.06, 0.15),
            noise_level=rng.uniform(0.5, 1.2),
            seed=seed + 1,
            sample_rate=sample_rate,
        ),
        "clap": clap(decay_s=rng.uniform(0.08, 0.16), seed=seed + 2, sample_rate=sample_rate),
        "hat": hat(seed=seed + 3, sample_rate=sample_rate),
        "open_hat": hat(open_=True, seed=seed + 4, sample_rate=sample_rate),
    }


def _pattern_events(
    pattern: DrumPattern,
    bars: int,
    hats: HatGrid,
    fill: bool,
    ghost_notes: bool,
    rng: np.random.Generator,
) -> list[tuple[str, int, float]]:
    """``(voice, absolute 16th step, velocity)`` for every hit of the loop."""
    events: list[tuple[str, int, float]] = []
    hat_steps = {"none": (), "8ths": range(0, 16, 2), "16ths": range(16), "offbeat": (2, 6, 10, 14)}
    for bar in range(bars):
        base = 16 * bar
        last_beat_fill = fill and bar == bars - 1
        for voice, steps in (
            ("kick", pattern.kick),
            ("snare", pattern.snare),
            ("clap", pattern.clap),
        ):
            events += [
                (voice, base + s, rng.uniform(0.85, 1.0))
                for s in steps
                if not (last_beat_fill and s >= 12)
            ]
        if last_beat_fill:
            events += [("snare", base + s, rng.uniform(0.6, 0.9)) for s in range(12, 16)]
        if ghost_notes:
            events += [("snare", base + s, rng.uniform(0.15, 0.25)) for s in (7, 9, 15)]
        voice = "open_hat" if hats == "offbeat" else "hat"
        # Hats are accented on the beat, softer in between, as a drummer plays them.
        events += [
            (voice, base + s, (0.5 if s % 4 == 0 else 0.3) * rng.uniform(0.8, 1.0))
            for s in hat_steps[hats]
        ]
    return events


def _check_loop_args(bpm: float, bars: int) -> None:
    if not 20.0 <= bpm <= 400.0:
        raise ValueError(f"bpm must be in [20, 400], got {bpm}")
    if bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")


def mix_at(y: np.ndarray, sound: np.ndarray, offset: int) -> None:
    """Add ``sound`` into ``y`` from sample ``offset``; what overruns the end is cut."""
    stop = min(y.size, offset + sound.size)
    if offset < stop:
        y[offset:stop] += sound[: stop - offset]


def _add_at(y: np.ndarray, sound: np.ndarray, start_s: float, sample_rate: int) -> None:
    """Mix ``sound`` into ``y`` starting at ``start_s`` seconds."""
    mix_at(y, sound, round(start_s * sample_rate))


def normalised(y: np.ndarray, peak: float) -> np.ndarray:
    """``y`` scaled so its largest magnitude is ``peak``, float32 (silence is left as is)."""
    top = float(np.max(np.abs(y)))
    return (y * (peak / top) if top > 0 else y).astype(np.float32)
