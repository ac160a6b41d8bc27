"""Descriptive tags from the record's measured values, with fixed thresholds.

Each tag is a plain word a producer would type; the rule is a threshold on a
value the engine has already measured (nothing is computed again):

=============  =================================================================
tag            rule
=============  =================================================================
``short``      duration < :data:`SHORT_S` (0.25 s)
``long``       duration >= :data:`LONG_S` (2 s)
``punchy``     a one-shot with attack <= :data:`PUNCHY_ATTACK_MS` (10 ms) and a
               20 dB decay <= :data:`PUNCHY_DECAY_MS` (400 ms)
``bright``     spectral centroid >= :data:`BRIGHT_HZ` (4 kHz)
``dark``       spectral centroid <= :data:`DARK_HZ` (800 Hz)
``distorted``  crest factor (sample peak dBFS - RMS dBFS) < :data:`DISTORTED_CREST_DB`
               (2.5 dB): flat-topped like a hard-clipped (or square) wave; a pure
               sine is 3.0 dB, a drum hit 10 dB or more
``tonal``      a pitch with confidence >= :data:`TONAL_PITCH_CONFIDENCE` (0.5), or a
               key found (loops), and spectral flatness < :data:`TONAL_MAX_FLATNESS`
``noisy``      spectral flatness >= :data:`NOISY_FLATNESS` (0.25; white noise 0.56)
``stereo``     two or more channels and stereo width >= :data:`STEREO_WIDTH` (0.1)
``mono``       one channel, or stereo width < :data:`MONO_WIDTH` (0.01)
=============  =================================================================

A value the engine could not measure (``None``) gives no tag either way.
"""

from __future__ import annotations

from .record import AnalysisRecord

__all__ = ["TAGS", "descriptive_tags"]

SHORT_S = 0.25
LONG_S = 2.0
PUNCHY_ATTACK_MS = 10.0
PUNCHY_DECAY_MS = 400.0
BRIGHT_HZ = 4000.0
DARK_HZ = 800.0
DISTORTED_CREST_DB = 2.5
TONAL_PITCH_CONFIDENCE = 0.5
TONAL_MAX_FLATNESS = 0.1
NOISY_FLATNESS = 0.25
STEREO_WIDTH = 0.1
MONO_WIDTH = 0.01

TAGS: tuple[str, ...] = (
    "short", "long", "punchy", "bright", "dark", "distorted", "tonal", "noisy", "stereo", "mono",
)  # fmt: skip
"""Every tag :func:`descriptive_tags` can give, in the order it lists them."""


def descriptive_tags(record: AnalysisRecord) -> list[str]:
    """The tags of :data:`TAGS` whose rule (module docstring) the record meets.

    Args:
        record: an analysed record (duration, descriptors, pitch, key filled).

    Returns:
        Tags in :data:`TAGS` order; empty when nothing was measured.
    """
    rules = {
        "short": _below(record.duration, SHORT_S),
        "long": _at_least(record.duration, LONG_S),
        "punchy": _is_punchy(record),
        "bright": _at_least(record.spectral_centroid_hz, BRIGHT_HZ),
        "dark": _at_most(record.spectral_centroid_hz, DARK_HZ),
        "distorted": _below(_crest_db(record), DISTORTED_CREST_DB),
        "tonal": _is_tonal(record),
        "noisy": _at_least(record.spectral_flatness, NOISY_FLATNESS),
        "stereo": (record.channels or 0) >= 2 and _at_least(record.stereo_width, STEREO_WIDTH),
        "mono": record.channels == 1 or _below(record.stereo_width, MONO_WIDTH),
    }
    return [tag for tag in TAGS if rules[tag]]


def _is_punchy(record: AnalysisRecord) -> bool:
    return (
        record.kind == "one_shot"
        and _at_most(record.attack_ms, PUNCHY_ATTACK_MS)
        and _at_most(record.decay_ms, PUNCHY_DECAY_MS)
    )


def _is_tonal(record: AnalysisRecord) -> bool:
    pitched = _at_least(record.pitch_confidence, TONAL_PITCH_CONFIDENCE) or record.key is not None
    return pitched and _below(record.spectral_flatness, TONAL_MAX_FLATNESS)


def _crest_db(record: AnalysisRecord) -> float | None:
    if record.peak_dbfs is None or record.rms_dbfs is None:
        return None
    return record.peak_dbfs - record.rms_dbfs


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def _at_least(value: float | None, limit: float) -> bool:
    return value is not None and value >= limit
