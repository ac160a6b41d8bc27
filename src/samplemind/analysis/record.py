"""The analysis record: one per file, the same from the CLI and the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["one_shot", "loop"]
ValueSource = Literal["audio", "filename", "audio+filename"]


@dataclass
class AnalysisRecord:
    """Everything the engine says about one file.

    A value the engine cannot judge honestly is ``None``, never a guess.
    Units: seconds, Hz, dBFS, LUFS, milliseconds as the names say.
    """

    path: str
    sha256: str | None = None
    audio_sha256: str | None = None
    format: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_depth: int | None = None
    duration: float | None = None
    peak_dbfs: float | None = None
    true_peak_dbfs: float | None = None
    loudness_lufs: float | None = None
    rms_dbfs: float | None = None
    kind: Kind | None = None
    bpm: float | None = None
    bpm_confidence: float | None = None
    bpm_source: ValueSource | None = None
    key: str | None = None
    key_confidence: float | None = None
    key_source: ValueSource | None = None
    pitch_hz: float | None = None
    root_note: str | None = None
    pitch_confidence: float | None = None
    category: str | None = None
    category_confidence: float | None = None
    category_top3: list[dict[str, Any]] | None = None
    category_source: ValueSource | None = None
    spectral_centroid_hz: float | None = None
    spectral_rolloff_hz: float | None = None
    spectral_flatness: float | None = None
    zero_crossing_rate: float | None = None
    attack_ms: float | None = None
    decay_ms: float | None = None
    onset_count: int | None = None
    stereo_width: float | None = None
    tags: list[str] = field(default_factory=list)
    hints: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    embedding: list[float] | None = None

    def as_dict(self, *, include_embedding: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not include_embedding:
            data.pop("embedding")
        return data
