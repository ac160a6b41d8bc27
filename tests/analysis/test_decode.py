"""Decoding: formats by content, channels, rates, and every failure as an AnalysisError."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplemind.analysis import decode
from samplemind.analysis.decode import MAX_FLOAT_PEAK_DBFS, decode_audio
from samplemind.analysis.errors import AnalysisError, AnalysisErrorCode
from samplemind.analysis.pipeline import analyze_bytes
from samplemind.analysis.synthetic import tones

LOSSLESS = [
    ("WAV", "PCM_U8", "WAV", 8),
    ("WAV", "PCM_16", "WAV", 16),
    ("WAV", "PCM_24", "WAV", 24),
    ("WAV", "PCM_32", "WAV", 32),
    ("WAV", "FLOAT", "WAV", 32),
    ("WAV", "DOUBLE", "WAV", 64),
    ("WAVEX", "PCM_24", "WAV", 24),
    ("AIFF", "PCM_16", "AIFF", 16),
    ("AIFF", "PCM_24", "AIFF", 24),
    ("AIFF", "FLOAT", "AIFF", 32),  # written as AIFF-C
    ("FLAC", "PCM_16", "FLAC", 16),
    ("FLAC", "PCM_24", "FLAC", 24),
    ("RF64", "PCM_16", "RF64", 16),
    ("W64", "PCM_24", "W64", 24),
    ("CAF", "PCM_16", "CAF", 16),
]
LOSSY = [
    ("OGG", "VORBIS", "OGG", 44100),
    ("OGG", "OPUS", "OPUS", 48000),
    ("MP3", "MPEG_LAYER_III", "MP3", 44100),
]
DECODE_FAILURES = {AnalysisErrorCode.DECODE_ERROR, AnalysisErrorCode.UNSUPPORTED_FORMAT}


def encode(samples: np.ndarray, sample_rate: int, fmt: str, subtype: str) -> bytes:
    """``samples`` shaped (channels, n) → the bytes of a file in ``fmt``/``subtype``."""
    buffer = io.BytesIO()
    sf.write(buffer, samples.T, sample_rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def stereo_tone(sample_rate: int = 44100, seconds: float = 0.5) -> np.ndarray:
    left = tones.sine(440.0, duration=seconds, sample_rate=sample_rate, level_dbfs=-6.0)[0]
    right = tones.sine(660.0, duration=seconds, sample_rate=sample_rate, level_dbfs=-12.0)[0]
    return np.stack([left, right])


def error_code(source: object, **kwargs: float) -> AnalysisErrorCode:
    with pytest.raises(AnalysisError) as info:
        decode_audio(source, **kwargs)  # type: ignore[arg-type]
    return info.value.code


@pytest.mark.parametrize(("fmt", "subtype", "label", "bits"), LOSSLESS)
def test_lossless_formats_decode_exactly(fmt: str, subtype: str, label: str, bits: int) -> None:
    original = stereo_tone()
    decoded = decode_audio(encode(original, 44100, fmt, subtype))
    assert (decoded.format, decoded.subtype, decoded.bit_depth) == (label, subtype, bits)
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.shape == original.shape
    assert decoded.sample_rate == 44100
    quantisation = 2.0 ** -(bits - 1) if subtype.startswith("PCM") else 1e-7
    assert np.max(np.abs(decoded.samples - original)) <= quantisation


@pytest.mark.parametrize(("fmt", "subtype", "label", "rate"), LOSSY)
def test_lossy_formats_keep_level_and_frequency(
    fmt: str, subtype: str, label: str, rate: int
) -> None:
    original = tones.sine(1000.0, duration=1.0, sample_rate=rate, level_dbfs=-6.0, channels=2)
    decoded = decode_audio(encode(original, rate, fmt, subtype))
    assert (decoded.format, decoded.subtype, decoded.bit_depth) == (label, subtype, None)
    assert decoded.channels == 2 and decoded.sample_rate == rate
    assert abs(decoded.n_samples - original.shape[1]) <= 2048
    middle = decoded.samples[0, rate // 4 : 3 * rate // 4]
    rms_db = 20 * np.log10(np.sqrt(np.mean(middle.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-6.0 - 3.01, abs=0.5)
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.argmax(spectrum) * rate / middle.size == pytest.approx(1000.0, abs=4.0)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS")]
)
def test_channel_counts(channels: int, fmt: str, subtype: str) -> None:
    # 80 Hz survives a Vorbis 5.1 file's band-limited LFE channel.
    t = np.arange(22050) / 44100
    original = np.stack([0.1 * (k + 1) * np.sin(2 * np.pi * 80.0 * t) for k in range(channels)])
    decoded = decode_audio(encode(original.astype(np.float32), 44100, fmt, subtype))
    assert decoded.samples.shape[0] == channels
    levels = np.sqrt(np.mean(decoded.samples[:, 4410:-4410].astype(np.float64) ** 2, axis=1))
    tolerance = 0.3 if fmt == "OGG" else 0.01  # Vorbis codes a 5.1 LFE channel coarsely
    np.testing.assert_allclose(
        levels, 0.1 * np.arange(1, channels + 1) / np.sqrt(2), rtol=tolerance
    )


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 88200, 96000, 192000])
@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_24"), ("FLAC", "PCM_16"), ("AIFF", "PCM_16")]
)
def test_sample_rates(rate: int, fmt: str, subtype: str) -> None:
    original = tones.sine(440.0, duration=0.25, sample_rate=rate)
    decoded = decode_audio(encode(original, rate, fmt, subtype))
    assert decoded.sample_rate == rate
    assert decoded.n_samples == original.shape[1]


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 32000, 48000])
def test_mp3_sample_rates(rate: int) -> None:
    decoded = decode_audio(
        encode(tones.sine(440.0, duration=0.5, sample_rate=rate), rate, "MP3", "MPEG_LAYER_III")
    )
    assert decoded.sample_rate == rate and decoded.format == "MP3"


def id3v2_tag(payload_size: int = 4000) -> bytes:
    size = payload_size
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    frame = b"TIT2" + struct.pack(">I", 6) + b"\x00\x00" + b"\x00kick!"
    return b"ID3\x03\x00\x00" + syncsafe + frame + b"\x00" * (size - len(frame))


def test_id3_tagged_mp3_and_flac() -> None:
    tone = tones.sine(440.0, duration=0.5, sample_rate=44100)
    mp3 = decode_audio(id3v2_tag() + encode(tone, 44100, "MP3", "MPEG_LAYER_III"))
    flac = decode_audio(id3v2_tag() + encode(tone, 44100, "FLAC", "PCM_16"))
    assert (mp3.format, flac.format) == ("MP3", "FLAC")
    assert mp3.n_samples == flac.n_samples == tone.shape[1]


def test_format_is_decided_by_content_not_name(tmp_path: Path) -> None:
    wav = encode(stereo_tone(), 44100, "WAV", "PCM_16")
    (tmp_path / "really_a_wav.txt").write_bytes(wav)
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    (tmp_path / "picture.mp3").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert decode_audio(tmp_path / "really_a_wav.txt").format == "WAV"
    assert decode_audio(str(tmp_path / "really_a_wav.txt")).n_samples == 22050
    assert error_code(tmp_path / "notes.wav") == AnalysisErrorCode.UNSUPPORTED_FORMAT
    assert error_code(tmp_path / "picture.mp3") == AnalysisErrorCode.UNSUPPORTED_FORMAT


def test_sources_bytes_path_and_file_objects(tmp_path: Path) -> None:
    data = encode(stereo_tone(), 44100, "FLAC", "PCM_16")
    path = tmp_path / "a.flac"
    path.write_bytes(data)

    class NonSeekable(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    positioned = io.BytesIO(b"junk" + data)
    positioned.seek(4)
    sources: list[object] = [data, bytearray(data), path, str(path), io.BytesIO(data)]
    sources += [NonSeekable(), positioned]
    with path.open("rb") as handle:
        for source in [*sources, handle]:
            assert decode_audio(source).samples.shape == (2, 22050)  # type: ignore[arg-type]


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    assert error_code(tmp_path / "nope.wav") == AnalysisErrorCode.DECODE_ERROR
    assert error_code(tmp_path) == AnalysisErrorCode.DECODE_ERROR  # a directory
    with pytest.raises(ValueError, match="max_duration"):
        decode_audio(b"", max_duration=0)
    with pytest.raises(TypeError):
        decode_audio(12345)  # type: ignore[arg-type]


def test_empty_and_tiny_inputs() -> None:
    assert error_code(b"") == AnalysisErrorCode.UNSUPPORTED_FORMAT
    assert error_code(b"RIFF") == AnalysisErrorCode.DECODE_ERROR
    assert error_code(b"\x00") == AnalysisErrorCode.UNSUPPORTED_FORMAT
    assert error_code(id3v2_tag()) == AnalysisErrorCode.DECODE_ERROR  # tag, then nothing


def test_zero_frames_is_empty_audio_but_silence_is_audio() -> None:
    empty = encode(np.zeros((2, 0), np.float32), 44100, "WAV", "PCM_16")
    assert error_code(empty) == AnalysisErrorCode.EMPTY_AUDIO
    silence = decode_audio(encode(np.zeros((1, 4410), np.float32), 44100, "FLAC", "PCM_16"))
    assert silence.n_samples == 4410 and not silence.samples.any()


def test_float_files_keep_overs_and_reject_non_finite() -> None:
    loud = np.array([[0.0, 1.5, -2.0, 0.25]], dtype=np.float32)
    decoded = decode_audio(encode(loud, 44100, "WAV", "FLOAT"))
    np.testing.assert_array_equal(decoded.samples, loud)
    for bad in (np.nan, np.inf):
        samples = np.zeros((1, 1000), np.float32)
        samples[0, 500] = bad
        assert error_code(encode(samples, 44100, "WAV", "FLOAT")) == AnalysisErrorCode.DECODE_ERROR


@pytest.mark.parametrize("peak", [1e7, 1e30, 3e38])
def test_float_samples_far_beyond_full_scale_are_a_decode_error(peak: float) -> None:
    # A float WAV whose data bytes are garbage decodes to finite but absurd
    # values; every loudness, pitch and spectrum figure would overflow.
    samples = (np.sin(np.arange(8000) * 0.05) * 0.5).astype(np.float32)[np.newaxis]
    samples[0, 4000] = peak
    data = encode(samples, 44100, "WAV", "FLOAT")
    with pytest.raises(AnalysisError) as caught:
        decode_audio(data)
    assert caught.value.code == AnalysisErrorCode.DECODE_ERROR
    assert "full scale" in caught.value.message
    assert analyze_bytes(data, name="garbage.wav").error["code"] == "decode_error"  # type: ignore[index]


def test_float_overs_within_the_limit_are_kept() -> None:
    limit = 10.0 ** (MAX_FLOAT_PEAK_DBFS / 20.0)
    samples = np.array([[0.0, 0.99 * limit, -0.5, 0.25]], dtype=np.float32)
    decoded = decode_audio(encode(samples, 44100, "WAV", "FLOAT"))
    assert decoded.peak == pytest.approx(0.99 * limit, rel=1e-6)


def test_int_pcm_full_scale() -> None:
    pcm = np.array([-32768, 32767, 0, 16384], dtype="<i2").tobytes()
    header = wav_header(data_size=len(pcm), rate=8000, channels=1, bits=16)
    decoded = decode_audio(header + pcm)
    np.testing.assert_allclose(decoded.samples[0], [-1.0, 32767 / 32768, 0.0, 0.5])


def wav_header(*, data_size: int, rate: int, channels: int, bits: int) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    riff_size = min(4 + 8 + len(fmt) + 8 + data_size, 0xFFFFFFFF)
    return (
        b"RIFF" + struct.pack("<I", riff_size) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", data_size)
    )  # fmt: skip


def test_wav_with_huge_claimed_size() -> None:
    pcm = (np.sin(np.arange(8000) * 0.1) * 10000).astype("<i2").tobytes()
    placeholder = wav_header(data_size=0xFFFFFFFF, rate=8000, channels=1, bits=16) + pcm
    assert decode_audio(placeholder).n_samples == 8000  # a streaming writer's placeholder
    claimed_ten_times = wav_header(data_size=10 * len(pcm), rate=8000, channels=1, bits=16) + pcm
    assert error_code(claimed_ten_times) == AnalysisErrorCode.DECODE_ERROR


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate"),
    [
        ("WAV", "PCM_16", 44100),
        ("AIFF", "PCM_24", 44100),
        ("FLAC", "PCM_16", 44100),
        ("OGG", "VORBIS", 44100),
        ("OGG", "OPUS", 48000),
        ("MP3", "MPEG_LAYER_III", 44100),
        ("RF64", "PCM_16", 44100),
    ],
)
def test_truncated_files_are_decode_errors(fmt: str, subtype: str, rate: int) -> None:
    data = encode(tones.sine(330.0, duration=2.0, sample_rate=rate, channels=2), rate, fmt, subtype)
    for fraction in (0.02, 0.3, 0.6, 0.9, 0.97):
        cut = data[: int(len(data) * fraction)]
        assert error_code(cut) == AnalysisErrorCode.DECODE_ERROR, fraction


def test_too_long_by_decoding() -> None:
    data = encode(tones.sine(440.0, duration=3.0, sample_rate=8000), 8000, "WAV", "PCM_16")
    assert error_code(data, max_duration=2.0) == AnalysisErrorCode.TOO_LONG
    assert decode_audio(data, max_duration=3.0).duration == pytest.approx(3.0)


def test_ten_hour_file_is_rejected_from_its_header(tmp_path: Path) -> None:
    data_size = 10 * 3600 * 8000  # 10 h of 8-bit mono at 8 kHz, stored sparse
    path = tmp_path / "ten_hours.wav"
    with path.open("wb") as handle:
        handle.write(wav_header(data_size=data_size, rate=8000, channels=1, bits=8))
        handle.truncate(44 + data_size)
    assert error_code(path) == AnalysisErrorCode.TOO_LONG


def test_flac_header_length_and_unknown_length() -> None:
    data = bytearray(
        encode(tones.sine(440.0, duration=3.0, sample_rate=8000), 8000, "FLAC", "PCM_16")
    )
    assert error_code(bytes(data), max_duration=2.5) == AnalysisErrorCode.TOO_LONG
    # STREAMINFO's 36-bit sample count at byte 21 (4 low bits) to 25; 0 = unknown.
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    assert decode_audio(bytes(data)).n_samples == 24000
    assert error_code(bytes(data), max_duration=2.5) == AnalysisErrorCode.TOO_LONG


@pytest.mark.parametrize("first_read", [1000, 23999, 24000])
@pytest.mark.parametrize("unknown_length", [False, True])
def test_reads_in_several_blocks_lose_nothing(
    monkeypatch: pytest.MonkeyPatch, first_read: int, unknown_length: bool
) -> None:
    # A first read shorter than the file, ending one frame short, or taking
    # it all (then the small probe at the end): the same samples every time.
    data = bytearray(
        encode(tones.sine(440.0, duration=3.0, sample_rate=8000), 8000, "FLAC", "PCM_16")
    )
    if unknown_length:
        data[21] &= 0xF0
        data[22:26] = bytes(4)
    whole = decode_audio(bytes(data)).samples
    monkeypatch.setattr(decode, "_FIRST_READ_MAX_SAMPLES", first_read)
    monkeypatch.setattr(decode, "_NEXT_READ_SAMPLES", 5000)
    np.testing.assert_array_equal(decode_audio(bytes(data)).samples, whole)
    assert whole.shape == (1, 24000)


def test_mp3_length_from_its_xing_header() -> None:
    data = encode(
        tones.sine(440.0, duration=3.0, sample_rate=16000), 16000, "MP3", "MPEG_LAYER_III"
    )
    assert error_code(data, max_duration=2.5) == AnalysisErrorCode.TOO_LONG
    assert decode_audio(data).n_samples == 48000


@pytest.mark.parametrize("rate", [16000, 44100])
def test_vbr_mp3_without_xing_header_decodes_fully(rate: int) -> None:
    # Loud start, quiet end: the first frame's bitrate is far above the mean,
    # so a length estimated from it (libsndfile's) is much too short.
    t = np.arange(10 * rate) / rate
    rng = np.random.default_rng(5)
    signal = np.where(
        t < 1.0, 0.5 * rng.standard_normal(t.size), 0.01 * np.sin(2 * np.pi * 220 * t)
    )
    data = encode(signal[np.newaxis, :].astype(np.float32), rate, "MP3", "MPEG_LAYER_III")
    without_xing = data[_first_frame_length(data) :]
    decoded = decode_audio(without_xing)
    assert decoded.format == "MP3"
    assert decoded.n_samples == pytest.approx(t.size, abs=2 * 1152)
    assert error_code(without_xing, max_duration=8.0) == AnalysisErrorCode.TOO_LONG


def _first_frame_length(data: bytes) -> int:
    """Length in bytes of the MPEG-1 or MPEG-2 Layer III frame starting ``data``."""
    mpeg1 = (data[1] >> 3) & 3 == 3
    if mpeg1:
        kbps = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
        rates = (44100, 48000, 32000)
    else:
        kbps = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
        rates = (22050, 24000, 16000)
    bitrate = kbps[data[2] >> 4] * 1000
    rate = rates[(data[2] >> 2) & 3]
    return (144 if mpeg1 else 72) * bitrate // rate + ((data[2] >> 1) & 1)


def test_unsupported_sample_rate() -> None:
    header = wav_header(data_size=200, rate=500, channels=1, bits=16)
    assert error_code(header + bytes(200)) == AnalysisErrorCode.UNSUPPORTED_FORMAT


def test_random_bytes_never_raise_anything_else() -> None:
    rng = random.Random(1234)
    for length in (1, 3, 4, 12, 100, 4096):
        for _ in range(20):
            blob = bytes(rng.randrange(256) for _ in range(length))
            assert error_code(blob) in DECODE_FAILURES


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [
        ("WAV", "PCM_16"),
        ("WAV", "FLOAT"),
        ("AIFF", "PCM_16"),
        ("FLAC", "PCM_16"),
        ("OGG", "VORBIS"),
        ("MP3", "MPEG_LAYER_III"),
    ],
)
def test_corrupted_files_decode_or_raise_analysis_errors(fmt: str, subtype: str) -> None:
    """Whatever decodes is analysed without an ``internal_error``."""
    data = encode(stereo_tone(seconds=0.3), 44100, fmt, subtype)
    rng = random.Random(fmt)
    for _ in range(40):
        corrupt = bytearray(data)
        region = rng.choice([64, 512, len(data)])
        for _ in range(rng.choice([1, 4, 16])):
            corrupt[rng.randrange(region)] = rng.randrange(256)
        try:
            decoded = decode_audio(bytes(corrupt))
        except AnalysisError:
            continue
        assert decoded.samples.ndim == 2 and decoded.samples.dtype == np.float32
        assert np.isfinite(decoded.samples).all()
        record = analyze_bytes(bytes(corrupt), name="corrupt", embedding=True)
        assert record.error is None, record.error
