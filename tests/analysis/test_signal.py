"""The shared pass: the STFT against its plain definition."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from samplemind.analysis.signal import frame_view, stft_magnitude


def plain_stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred frames (zero padded by n_fft // 2), periodic Hann window, |rfft|."""
    padded = np.pad(y.astype(np.float32), n_fft // 2)
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    n_frames = 1 + (padded.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    return np.abs(scipy.fft.rfft(frames * window, axis=1)).T


@pytest.mark.parametrize(("n_fft", "hop_length"), [(2048, 512), (1024, 256), (512, 512), (8, 3)])
@pytest.mark.parametrize("n", [0, 1, 5, 511, 512, 2047, 2048, 2049, 9000])
def test_stft_magnitude_matches_its_definition(n: int, n_fft: int, hop_length: int) -> None:
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    magnitude = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)
    expected = plain_stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)
    assert magnitude.dtype == np.float32
    assert magnitude.flags.c_contiguous
    assert magnitude.shape == (1 + n_fft // 2, 1 + n // hop_length)
    assert np.array_equal(magnitude, expected)


def test_stft_magnitude_of_float64_input_and_bad_arguments() -> None:
    y = np.random.default_rng(0).standard_normal(3000)
    assert np.array_equal(
        stft_magnitude(y, n_fft=2048, hop_length=512),
        plain_stft_magnitude(y, n_fft=2048, hop_length=512),
    )
    with pytest.raises(ValueError):
        stft_magnitude(np.zeros((2, 100), dtype=np.float32), n_fft=2048, hop_length=512)
    with pytest.raises(ValueError):
        stft_magnitude(np.zeros(100, dtype=np.float32), n_fft=512, hop_length=1024)


@pytest.mark.parametrize(
    ("n", "frame_length", "hop_length"), [(10, 10, 1), (100, 7, 3), (4096, 2048, 512)]
)
def test_frame_view_is_the_strided_frames(n: int, frame_length: int, hop_length: int) -> None:
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    frames = frame_view(y, frame_length=frame_length, hop_length=hop_length)
    expected = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length]
    np.testing.assert_array_equal(frames, expected)
    assert not frames.flags.writeable
    # A view of a slice starts at the slice.
    np.testing.assert_array_equal(frame_view(y[3:], frame_length=4)[0], y[3:7])


def test_frame_view_rejects_bad_arguments() -> None:
    y = np.zeros(8, dtype=np.float32)
    with pytest.raises(ValueError):
        frame_view(y, frame_length=9)
    with pytest.raises(ValueError):
        frame_view(y, frame_length=0)
    with pytest.raises(ValueError):
        frame_view(y, frame_length=4, hop_length=0)
    with pytest.raises(ValueError):
        frame_view(y[::2], frame_length=2)
    with pytest.raises(ValueError):
        frame_view(np.zeros((2, 4)), frame_length=2)
