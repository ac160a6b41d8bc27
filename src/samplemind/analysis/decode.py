"""Decode an audio file into float32 samples, deciding the format by content.

The container is recognised from its leading bytes (never the file name), then
libsndfile decodes it. Only the containers below are handed to libsndfile, which
keeps its many exotic parsers out of reach of arbitrary uploads:

========  =============================================  ===============
format    container                                      ``subtype``
========  =============================================  ===============
WAV       RIFF/RIFX WAVE, WAVE_FORMAT_EXTENSIBLE         PCM_16, FLOAT…
RF64      RF64 WAVE                                      PCM_24…
W64       Sony Wave64                                    PCM_24…
AIFF      AIFF and AIFF-C                                PCM_16…
CAF       Apple Core Audio Format                        PCM_24, ALAC_16…
FLAC      native FLAC (optionally after an ID3v2 tag)    PCM_16, PCM_24
OGG       Ogg Vorbis                                     VORBIS
OPUS      Ogg Opus                                       OPUS
MP3       MPEG-1/2/2.5 Layer III, bare or ID3v2-tagged   MPEG_LAYER_III
MP2/MP1   MPEG Layer II / Layer I                        MPEG_LAYER_II…
========  =============================================  ===============

Every failure is an :class:`AnalysisError`:

* ``unsupported_format``: not one of the containers above (text, images, AAC,
  FLAC-in-Ogg…), a sample rate outside ``MIN_SAMPLE_RATE``–``MAX_SAMPLE_RATE``,
  or a path that is not a regular file (a named pipe or a device, whose read
  may wait for a writer or never end).
* ``decode_error``: a recognised container that is corrupt or truncated (its
  header declares more audio than the file holds), that libsndfile cannot
  decode, or that holds NaN/inf samples or float samples beyond
  ``MAX_FLOAT_PEAK_DBFS`` (garbage bytes in a float file decode to values like
  1e30). They are rejected rather than sanitised: every loudness or pitch figure
  computed from them would be a guess. Float overs below the limit are kept.
* ``empty_audio``: a valid container with zero sample frames. Digital silence
  is valid audio and decodes normally.
* ``too_long``: longer than ``max_duration``, judged from the header before any
  sample is decoded where the header states the length, and enforced while
  decoding otherwise, so a ten-hour file is never held in memory.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import BinaryIO

import numpy as np
import soundfile as sf

from samplemind.analysis.errors import AnalysisError, AnalysisErrorCode
from samplemind.analysis.signal import DecodedAudio

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000

MAX_FLOAT_PEAK_DBFS = 120.0
"""Loudest float sample accepted (dBFS; 1.0 is 0 dBFS). Real float masters stay
within tens of dB of full scale; at +120 dBFS every float32 power sum still fits."""
_MAX_FLOAT_PEAK = 10.0 ** (MAX_FLOAT_PEAK_DBFS / 20.0)

_SNIFF_BYTES = 8192
_MAX_ID3_TAGS = 4
# Read buffers, in samples (frames x channels): libsndfile zero-fills what it
# does not read, so an oversized buffer costs time as well as memory.
_FIRST_READ_MAX_SAMPLES = 1 << 25
_NEXT_READ_SAMPLES = 1 << 18
_PROBE_FRAMES = 1024
_UNKNOWN_LENGTH = 1 << 62
_MPEG_FRAME_SAMPLES_MAX = 1152

_W64_RIFF_GUID = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"

_BIT_DEPTHS = {
    "PCM_S8": 8,
    "PCM_U8": 8,
    "PCM_16": 16,
    "PCM_24": 24,
    "PCM_32": 32,
    "FLOAT": 32,
    "DOUBLE": 64,
    "ALAC_16": 16,
    "ALAC_20": 20,
    "ALAC_24": 24,
    "ALAC_32": 32,
}

# libsndfile logs "data : <declared> (should be <present>)" for a short data chunk
# (W64 only logs its short outer "riff" chunk; RF64 compares frame counts).
_SHORT_CHUNK_LOG = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_SHORT_W64_LOG = re.compile(r"^\s*riff\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_SHORT_RF64_LOG = re.compile(
    r"Calculated frame count (\d+) does not match value from 'ds64' chunk of (\d+)"
)
# Streaming writers leave these sizes when they cannot seek back to fix the header.
_PLACEHOLDER_CHUNK_SIZE = 0x7FFF_0000
_OGG_TRUNCATION_LOG = ("File ended unexpectedly", "Junk after the last page")

_DECODER_FAILURES = (
    RuntimeError,  # includes soundfile.LibsndfileError
    ValueError,
    TypeError,
    EOFError,
    OSError,
    OverflowError,
    struct.error,
    MemoryError,
)


@dataclass(frozen=True)
class _Container:
    """What the leading bytes say: the libsndfile formats allowed to decode them."""

    formats: frozenset[str]
    subtypes: frozenset[str] | None = None
    # MPEG audio only: where the first frame starts, and how the length is known:
    # "header" (a Xing/Info/VBRI frame), "walked" (counted here), or "estimate"
    # (libsndfile's guess from the file size and the first frame's bitrate).
    mpeg_offset: int = 0
    mpeg_length: str = "header"


def decode_audio(source: AudioSource, *, max_duration: float = 1200.0) -> DecodedAudio:
    """Decode audio from a path, bytes or a binary file object.

    The format is decided by content, so a WAV named ``.txt`` decodes and a PNG
    named ``.mp3`` does not. A file object is read from its start; one that
    cannot seek, or is not at position 0, is first read into memory.

    Args:
        source: a filesystem path, the file's bytes, or a binary file object.
        max_duration: longest accepted duration in seconds (> 0).

    Returns:
        :class:`DecodedAudio` with float32 ``samples`` of shape
        ``(channels, n_samples)`` at the native sample rate, full scale ±1
        (float files keep overs beyond ±1). ``format`` is one of ``WAV``,
        ``RF64``, ``W64``, ``AIFF``, ``CAF``, ``FLAC``, ``OGG``, ``OPUS``,
        ``MP3``, ``MP2``, ``MP1``; ``subtype`` is libsndfile's (``PCM_24``,
        ``FLOAT``, ``VORBIS``…); ``bit_depth`` is the integer PCM width,
        32/64 for float, ``None`` for lossy or companded audio.

    Raises:
        AnalysisError: ``unsupported_format``, ``decode_error``,
            ``empty_audio`` or ``too_long`` (see the module docstring); never
            any other exception for any input content.
        ValueError: if ``max_duration`` is not a positive finite number.
        TypeError: if ``source`` is none of the accepted types.
    """
    if not (isinstance(max_duration, int | float) and 0 < max_duration < math.inf):
        raise ValueError(f"max_duration must be a positive number of seconds, got {max_duration!r}")
    if not isinstance(source, bytes | bytearray | memoryview | str | os.PathLike) and not callable(
        getattr(source, "read", None)
    ):
        raise TypeError(f"expected a path, bytes or a binary file object, got {type(source)!r}")
    try:
        with _open_source(source) as stream:
            container = _sniff_container(stream)
            stream.seek(0)
            return _decode_container(stream, container, max_duration=max_duration)
    except AnalysisError:
        raise
    except _DECODER_FAILURES as exc:
        raise _decode_error(f"cannot decode: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a decoder bug must still reach the caller as a code
        raise AnalysisError(
            AnalysisErrorCode.INTERNAL_ERROR, f"decoder failure: {type(exc).__name__}: {exc}"
        ) from exc


@contextmanager
def _open_source(source: AudioSource) -> Iterator[BinaryIO]:
    """Yield a seekable binary stream positioned at the start of the audio."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        try:
            handle = open_regular_file(source)
        except OSError as exc:
            raise _decode_error(f"cannot open {os.fspath(source)!r}: {exc.strerror}") from exc
        with handle:
            yield handle
    else:
        yield _seekable_from_start(source)


def open_regular_file(path: str | os.PathLike[str]) -> io.BufferedReader:
    """Open ``path`` for reading in binary mode, unless it is a named pipe or a device.

    Raises:
        AnalysisError: ``unsupported_format`` for a named pipe, device or socket.
        OSError: it cannot be opened, or is a folder.
    """
    _refuse_special(os.stat(path).st_mode, path)  # before opening: a device may react to it
    # Non-blocking: a FIFO swapped in since the check must not wait for a writer.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        _refuse_special(os.fstat(descriptor).st_mode, path)
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb")
    except BaseException:
        os.close(descriptor)  # open() leaves a descriptor it was given open when it fails
        raise


def _refuse_special(mode: int, path: str | os.PathLike[str]) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    if not stat.S_ISREG(mode):
        raise AnalysisError(
            AnalysisErrorCode.UNSUPPORTED_FORMAT, f"not a regular file: {_special_kind(mode)}"
        )


def _special_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _seekable_from_start(stream: BinaryIO) -> BinaryIO:
    try:
        if stream.seekable() and stream.tell() == 0:
            return stream
    except (OSError, ValueError, AttributeError):
        pass
    data = stream.read()
    if not isinstance(data, bytes | bytearray):
        raise TypeError("the file object must be opened in binary mode")
    return io.BytesIO(data)


# --- sniffing ----------------------------------------------------------------


def _sniff_container(stream: BinaryIO) -> _Container:
    """Recognise the container from its leading bytes, skipping ID3v2 tags."""
    offset = 0
    head = _read_at(stream, 0)
    if not head:
        raise _unsupported("empty input (0 bytes)")
    for _ in range(_MAX_ID3_TAGS):
        if not head.startswith(b"ID3"):
            break
        tag_length = _id3v2_length(head)
        if tag_length is None:
            raise _unsupported("malformed ID3v2 tag and no audio container")
        offset += tag_length
        head = _read_at(stream, offset)
        if not head:
            raise _decode_error("ID3v2 tag with no audio after it (truncated file?)")
    container = _container_after_id3(head) if offset else _container_from_head(head)
    return replace(container, mpeg_offset=offset)


def _read_at(stream: BinaryIO, offset: int) -> bytes:
    stream.seek(offset)
    return bytes(stream.read(_SNIFF_BYTES))


def _id3v2_length(head: bytes) -> int | None:
    """Total length of the ID3v2 tag at the start of ``head``, or None if malformed."""
    if len(head) < 10 or head[3] == 0xFF or head[4] == 0xFF:
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):
        return None
    size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
    has_footer = bool(head[5] & 0x10)
    return 10 + size + (10 if has_footer else 0)


def _container_after_id3(head: bytes) -> _Container:
    if head.startswith(b"fLaC"):
        return _Container(frozenset({"FLAC"}))
    mpeg = _mpeg_container(head)
    if mpeg is None:
        raise _unsupported("ID3v2 tag followed by neither MPEG audio nor FLAC")
    return mpeg


def _container_from_head(head: bytes) -> _Container:
    magic, form = head[:4], head[8:12]
    if magic in (b"RIFF", b"RIFX", b"RF64"):
        if len(head) < 12:
            raise _decode_error(f"{magic.decode()} header truncated")
        if form != b"WAVE":
            raise _unsupported(f"RIFF container of type {form!r}, not WAVE")
        return _Container(frozenset({"WAV", "WAVEX"} if magic[:3] == b"RIF" else {"RF64"}))
    if head.startswith(_W64_RIFF_GUID):
        return _Container(frozenset({"W64"}))
    if magic == b"FORM" and form in (b"AIFF", b"AIFC"):
        return _Container(frozenset({"AIFF"}))
    if magic == b"caff":
        return _Container(frozenset({"CAF"}))
    if magic == b"fLaC":
        return _Container(frozenset({"FLAC"}))
    if magic == b"OggS":
        return _ogg_container(head)
    mpeg = _mpeg_container(head)
    if mpeg is not None:
        return mpeg
    raise _unsupported("not a supported audio container (WAV, AIFF, CAF, FLAC, Ogg, MP3)")


def _ogg_container(head: bytes) -> _Container:
    first_page = head[:512]
    if b"\x01vorbis" in first_page:
        return _Container(frozenset({"OGG"}), frozenset({"VORBIS"}))
    if b"OpusHead" in first_page:
        return _Container(frozenset({"OGG"}), frozenset({"OPUS"}))
    if len(head) < 64:
        raise _decode_error("Ogg stream truncated before its codec header")
    raise _unsupported("Ogg stream with a codec other than Vorbis or Opus")


# MPEG audio frame header tables, indexed [version_is_mpeg1][layer][bitrate_index] (kbit/s).
_MPEG_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class _MpegFrame:
    version: int
    layer: int
    sample_rate: int
    length: int  # bytes

    @property
    def samples(self) -> int:
        """Sample frames decoded from this frame."""
        if self.layer == 1:
            return 384
        return 576 if self.layer == 3 and self.version != 3 else 1152

    def same_stream(self, other: _MpegFrame) -> bool:
        return (self.version, self.layer, self.sample_rate) == (
            other.version,
            other.layer,
            other.sample_rate,
        )


def _mpeg_frame_at(data: bytes, pos: int) -> _MpegFrame | None:
    """Parse the MPEG audio frame header at ``data[pos:pos + 4]``; None if invalid."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 3
    layer = 4 - ((data[pos + 1] >> 1) & 3)
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    if data[pos + 3] & 3 == 2:  # reserved emphasis
        return None
    is_mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[(is_mpeg1, layer)][bitrate_index] * 1000
    sample_rate = _MPEG_RATES[version][rate_index]
    padding = (data[pos + 2] >> 1) & 1
    if layer == 1:
        length = (12 * bitrate // sample_rate + padding) * 4
    else:
        coefficient = 72 if (layer == 3 and not is_mpeg1) else 144
        length = coefficient * bitrate // sample_rate + padding
    return _MpegFrame(version, layer, sample_rate, length)


def _mpeg_container(head: bytes) -> _Container | None:
    """An MPEG audio stream must start with a frame whose successor also parses."""
    first = _mpeg_frame_at(head, 0)
    if first is None:
        return None
    second_pos = first.length
    second = _mpeg_frame_at(head, second_pos)
    ends_after_one_frame = len(head) < _SNIFF_BYTES and second_pos >= len(head) - 3
    if second is None and not ends_after_one_frame:
        return None
    if second is not None and not second.same_stream(first):
        return None
    first_frame = head[: first.length]
    has_length_tag = any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))
    return _Container(frozenset({"MP3"}), mpeg_length="header" if has_length_tag else "estimate")


# --- decoding ----------------------------------------------------------------


class _GuardedStream:
    """The stream as libsndfile sees it, through C callbacks that must not raise.

    soundfile's callbacks cannot report a Python exception to libsndfile (cffi
    prints it and returns 0), so an invalid seek requested by a corrupt header
    leaves the position unchanged and a failing read reads nothing.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return self._stream.seek(offset, whence)
        except (OSError, ValueError, OverflowError):
            return self._stream.tell()

    def tell(self) -> int:
        return self._stream.tell()

    def readinto(self, buffer: memoryview) -> int:
        try:
            data = self._stream.read(len(buffer))
        except (OSError, ValueError):
            return 0
        buffer[: len(data)] = data
        return len(data)


def _decode_container(
    stream: BinaryIO, container: _Container, *, max_duration: float
) -> DecodedAudio:
    sound_file, container = _open_sound_file(stream, container)
    with sound_file:
        format_name, subtype = _check_format(sound_file, container)
        sample_rate = int(sound_file.samplerate)
        max_frames = math.floor(max_duration * sample_rate)
        declared = int(sound_file.frames)
        length_is_known = format_name not in ("MP3", "MP2", "MP1") or (
            container.mpeg_length != "estimate"
        )
        if length_is_known and _UNKNOWN_LENGTH > declared > max_frames:
            raise _too_long(declared / sample_rate, max_duration)
        frames = _read_all_frames(sound_file, max_frames=max_frames, max_duration=max_duration)
        _check_complete(sound_file, frames.shape[0], container, format_name)
    if frames.shape[0] == 0:
        raise AnalysisError(AnalysisErrorCode.EMPTY_AUDIO, "the file holds zero sample frames")
    decoded = DecodedAudio(
        samples=np.ascontiguousarray(frames.T),
        sample_rate=sample_rate,
        format=format_name,
        subtype=subtype,
        bit_depth=_BIT_DEPTHS.get(subtype) if subtype else None,
    )
    _check_sample_range(decoded.peak)
    return decoded


def _check_sample_range(peak: float) -> None:
    """Raise decode_error for NaN/inf samples or a peak beyond ``MAX_FLOAT_PEAK_DBFS``.

    ``peak`` is NaN or inf when any sample is: NumPy's max and min propagate both.
    """
    if not math.isfinite(peak):
        raise _decode_error("the file holds NaN or infinite samples")
    if peak > _MAX_FLOAT_PEAK:
        raise _decode_error(
            f"sample values reach {20.0 * math.log10(peak):+.0f} dBFS, far beyond full scale "
            f"(the limit is {MAX_FLOAT_PEAK_DBFS:+.0f} dBFS): the data is not audio"
        )


def _open_sound_file(stream: BinaryIO, container: _Container) -> tuple[sf.SoundFile, _Container]:
    """Open with libsndfile; an MP3 without a length header whose frames
    outnumber libsndfile's length estimate is reopened with one (libsndfile
    stops decoding at its estimate, which is too short for a VBR stream
    starting with a high-bitrate frame)."""
    sound_file = _libsndfile_open(stream)
    if container.mpeg_length != "estimate" or sound_file.subtype != "MPEG_LAYER_III":
        return sound_file, container
    stream.seek(0)
    data = stream.read()
    first = _mpeg_frame_at(data, container.mpeg_offset)
    n_frames = _count_mpeg_frames(data, container.mpeg_offset)
    if first is None or (n_frames - 1) * first.samples <= sound_file.frames:
        return sound_file, container
    with_header = _insert_xing_frame(data, container.mpeg_offset, n_frames)
    if with_header is None:
        return sound_file, container
    sound_file.close()
    return _libsndfile_open(io.BytesIO(with_header)), replace(container, mpeg_length="walked")


def _libsndfile_open(stream: BinaryIO) -> sf.SoundFile:
    try:
        return sf.SoundFile(_GuardedStream(stream))
    except _DECODER_FAILURES as exc:
        raise _decode_error(f"recognised container but libsndfile cannot open it: {exc}") from exc


def _count_mpeg_frames(data: bytes, offset: int) -> int:
    """Count the MPEG frames of the stream starting at ``offset``, resynchronising over junk."""
    first = _mpeg_frame_at(data, offset)
    if first is None:
        return 0
    count, position = 0, offset
    while position + 4 <= len(data):
        frame = _mpeg_frame_at(data, position)
        if frame is not None and frame.same_stream(first):
            count += 1
            position += frame.length
        else:
            next_sync = data.find(b"\xff", position + 1)
            if next_sync < 0:
                break
            position = next_sync
    return count


def _insert_xing_frame(data: bytes, offset: int, n_frames: int) -> bytes | None:
    """``data`` with a Xing frame declaring ``n_frames`` before the first frame
    at ``offset`` (Layer III); None if no frame size can hold the tag."""
    header = bytearray(data[offset : offset + 4])
    header[1] |= 0x01  # no CRC
    mono = header[3] >> 6 == 3
    is_mpeg1 = (header[1] >> 3) & 3 == 3
    side_info = (17 if mono else 32) if is_mpeg1 else (9 if mono else 17)
    tag = b"Xing" + (1).to_bytes(4, "big") + n_frames.to_bytes(4, "big")
    for bitrate_index in range(header[2] >> 4, 15):
        header[2] = (bitrate_index << 4) | (header[2] & 0x0D)  # keep rate and private bits
        frame = _mpeg_frame_at(bytes(header), 0)
        if frame is not None and frame.length >= 4 + side_info + len(tag):
            body = bytearray(frame.length)
            body[:4] = header
            body[4 + side_info : 4 + side_info + len(tag)] = tag
            return data[:offset] + bytes(body) + data[offset:]
    return None


def _check_format(sound_file: sf.SoundFile, container: _Container) -> tuple[str, str | None]:
    """Return (format label, subtype); reject disagreements and odd sample rates."""
    major = str(sound_file.format)
    subtype = str(sound_file.subtype) if sound_file.subtype else None
    if major not in container.formats or (
        container.subtypes is not None and subtype not in container.subtypes
    ):
        raise _decode_error(
            f"libsndfile reads the file as {major}/{subtype}, not as its header says"
        )
    rate = int(sound_file.samplerate)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _unsupported(f"sample rate {rate} Hz outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz")
    if sound_file.channels < 1:
        raise _decode_error("the header declares no channels")
    return _format_label(major, subtype), subtype


def _format_label(major: str, subtype: str | None) -> str:
    if major == "WAVEX":
        return "WAV"
    if major == "OGG":
        return "OPUS" if subtype == "OPUS" else "OGG"
    if major == "MP3":
        return {"MPEG_LAYER_I": "MP1", "MPEG_LAYER_II": "MP2"}.get(subtype or "", "MP3")
    return major


def _read_all_frames(
    sound_file: sf.SoundFile, *, max_frames: int, max_duration: float
) -> np.ndarray:
    """Read every frame as float32, shape ``(n, channels)``, at most ``max_frames``."""
    channels = int(sound_file.channels)
    declared = int(sound_file.frames)
    block_size = min(max(declared, 1), max_frames + 1, max(1, _FIRST_READ_MAX_SAMPLES // channels))
    next_size = max(1, _NEXT_READ_SAMPLES // channels)
    blocks: list[np.ndarray] = []
    total = 0
    while True:
        block = np.empty((block_size, channels), dtype=np.float32)
        count = _readf_float(sound_file, block)
        if count == 0:
            break
        blocks.append(block[:count])
        total += count
        if total > max_frames:
            raise _too_long(total / sound_file.samplerate, max_duration)
        # The first read usually took every frame: probe the end with a small
        # buffer (libsndfile zero-fills the whole buffer of a read at the end).
        size = next_size if len(blocks) > 1 or count < block_size else _PROBE_FRAMES
        block_size = min(size, max_frames + 1 - total)
    if not blocks:
        return np.empty((0, channels), dtype=np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _readf_float(sound_file: sf.SoundFile, out: np.ndarray) -> int:
    """Fill ``out`` (C-contiguous float32, ``(frames, channels)``); return frames read.

    Calls libsndfile directly: ``SoundFile.read`` re-seeks after every read,
    which fails on streams of unknown length (a FLAC without a sample count).
    """
    pointer = sf._ffi.cast("float *", sf._ffi.from_buffer(out))
    count = int(sf._snd.sf_readf_float(sound_file._file, pointer, out.shape[0]))
    error = int(sf._snd.sf_error(sound_file._file))
    if error:
        message = sf._ffi.string(sf._snd.sf_error_number(error)).decode("utf-8", "replace")
        raise _decode_error(f"corrupt audio data: {message}")
    return max(count, 0)


def _check_complete(
    sound_file: sf.SoundFile, n_read: int, container: _Container, format_name: str
) -> None:
    """Raise decode_error when the file holds less audio than its header declares."""
    declared = int(sound_file.frames)
    log = sound_file.extra_info
    short_chunks = _SHORT_W64_LOG if format_name == "W64" else _SHORT_CHUNK_LOG
    for match in short_chunks.finditer(log):
        claimed, present = int(match.group(1)), int(match.group(2))
        if claimed < _PLACEHOLDER_CHUNK_SIZE and claimed > present + 1:
            raise _truncated(f"the data chunk declares {claimed} bytes, the file holds {present}")
    rf64 = _SHORT_RF64_LOG.search(log) if format_name == "RF64" else None
    if rf64 and int(rf64.group(2)) > int(rf64.group(1)):
        raise _truncated(
            f"the ds64 chunk declares {rf64.group(2)} frames, the file holds {rf64.group(1)}"
        )
    if format_name in ("OGG", "OPUS") and any(text in log for text in _OGG_TRUNCATION_LOG):
        raise _truncated("the Ogg stream ends inside a page")
    if format_name == "FLAC" and declared < _UNKNOWN_LENGTH and n_read < declared:
        raise _truncated(f"the header declares {declared} frames, {n_read} decoded")
    xing_declared = container.mpeg_length == "header" and format_name.startswith("MP")
    if xing_declared and n_read + _MPEG_FRAME_SAMPLES_MAX < declared:
        raise _truncated(f"the Xing header declares {declared} frames, {n_read} decoded")


def _unsupported(message: str) -> AnalysisError:
    return AnalysisError(AnalysisErrorCode.UNSUPPORTED_FORMAT, message)


def _decode_error(message: str) -> AnalysisError:
    return AnalysisError(AnalysisErrorCode.DECODE_ERROR, message)


def _truncated(detail: str) -> AnalysisError:
    return _decode_error(f"truncated or corrupt file: {detail}")


def _too_long(duration: float, max_duration: float) -> AnalysisError:
    return AnalysisError(
        AnalysisErrorCode.TOO_LONG,
        f"longer than the {max_duration:g} s limit ({duration:.1f} s or more)",
    )
