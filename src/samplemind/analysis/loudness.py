"""Loudness and level: ITU-R BS.1770-4 / EBU R128 integrated loudness, peaks, RMS.

All functions take native-rate samples, float, shape ``(channels, n)`` (or
``(n,)`` for mono), full scale ±1, and return ``None`` for digital silence
rather than ``-inf``.

Integrated loudness follows BS.1770-4: K-weighting, 400 ms blocks with 75 %
overlap, an absolute gate at -70 LUFS and a relative gate 10 LU below the
absolutely gated loudness. The K-weighting biquads are derived for any sample
rate from the analogue prototype (bilinear transform pre-warped at each
filter's corner), which reproduces the standard's 48 kHz coefficients. Unlike
libebur128 and pyloudnorm, the high-pass keeps the standard's 48 kHz passband
gain at every rate (its unnormalised numerator otherwise adds up to 0.2 dB at
8 kHz).

Choices the standard leaves open:

* A signal shorter than one 400 ms block (a short one-shot) is measured as a
  single block spanning the whole signal, gates included: the mean K-weighted
  power of what is there. Zero padding to 400 ms would make the figure depend
  on the padding (a 100 ms hit would read 6 dB quieter).
* Mono is one channel with weight 1.0 (a mono file reads 3.01 LU below the
  same signal on both channels of a stereo file), as in BS.1770.
* Channel weights follow the WAV channel order: 5 channels are L R C Ls Rs,
  6 are L R C LFE Ls Rs (LFE excluded), 8 are L R C LFE Lb Rb Ls Rs (side
  channels at ±90° weighted 1.41, backs 1.0); every other layout weighs each
  channel 1.0.
* Below ``K_WEIGHTING_RATE`` the signal is first resampled to it: a digital
  shelf at 1.7 kHz cannot follow the analogue curve close to a low Nyquist
  frequency (at 8 kHz a 1 kHz tone would read 0.2 dB low).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import soxr

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_SECONDS = 0.4
BLOCK_STEPS = 4  # 75 % overlap: a block is four 100 ms steps
MIN_K_WEIGHTING_RATE = 4000
K_WEIGHTING_RATE = 44100  # lower rates are resampled to this before K-weighting
TRUE_PEAK_OVERSAMPLING = 4

_LOUDNESS_OFFSET_DB = -0.691
_SURROUND_WEIGHT = 1.41
_CHUNK_SAMPLES = 1 << 20
_SILENT_TAIL_BLOCK = 4096
_NEGLIGIBLE_STATE = 1e-30

# K-weighting analogue prototypes (libebur128 / BS.1770-4 48 kHz fit):
# high-shelf pre-filter (corner, gain dB, Q) and RLB high-pass (corner, Q).
_SHELF_HZ, _SHELF_GAIN_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_SHELF_BANDWIDTH_EXPONENT = 0.4996667741545416
_HIGHPASS_HZ, _HIGHPASS_Q = 38.13547087602444, 0.5003270373238773
_REFERENCE_RATE = 48000

# BS.1770-4 Annex 2: 4x oversampling interpolator, 4 phases x 12 taps.
_TRUE_PEAK_PHASES = np.array(
    [
        [
            0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
            -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
            0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500,
        ],
        [
            -0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
            -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
            0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375,
        ],
        [
            -0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000,
            -0.2003173828125, 0.7797851562500, 0.4650878906250, -0.1665039062500,
            0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875,
        ],
        [
            -0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750,
            -0.1022949218750, 0.9721679687500, 0.1373291015625, -0.0594482421875,
            0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750,
        ],
    ]
)  # fmt: skip
# The same filter as one 48-tap prototype for zero-stuffing interpolation.
_TRUE_PEAK_PROTOTYPE = _TRUE_PEAK_PHASES.T.reshape(-1)
_TRUE_PEAK_TAPS_PER_PHASE = _TRUE_PEAK_PHASES.shape[1]
# Bounds on |output| over a window of 12 inputs whose largest |value| is M and
# largest |step between neighbours| is D (see _true_peak_bounds). The margin
# absorbs rounding: of the filter's float64 sums and of D in float32.
_BOUND_MARGIN = 1.0 + 1e-6
_TRUE_PEAK_GAIN = float(np.abs(_TRUE_PEAK_PHASES).sum(axis=1).max())
_TRUE_PEAK_DC_GAINS = np.abs(_TRUE_PEAK_PHASES.sum(axis=1))
_TAPS = np.arange(_TRUE_PEAK_TAPS_PER_PHASE)
_TRUE_PEAK_SLOPE_GAINS = np.array(
    [min(float(np.abs(phase) @ np.abs(_TAPS - c)) for c in _TAPS) for phase in _TRUE_PEAK_PHASES]
)
_TRUE_PEAK_BLOCK = 128  # input positions per block that is interpolated or skipped
# The float32 screen (_estimated_rows_peaks): taps laid out for windows @ taps,
# its error bound relative to sum_k |h[k]| * max |x| (14 * 2**-24 = 8.3e-7,
# with a 5x margin), and rows per batch (about 12 MB of windows).
_FLOAT32_TAPS = np.ascontiguousarray(_TRUE_PEAK_PHASES[:, ::-1].T, dtype=np.float32)
_FLOAT32_ERROR = 4e-6
# The screen runs only for peaks in this range (every row it sees is within a
# factor GAIN of the peak): no float32 overflow, and no subnormal products.
_FLOAT32_RANGE = (1e-25, 1e30)
_ESTIMATE_BATCH_ROWS = 2048


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770 K-weighting filter for ``sample_rate`` as second-order sections.

    Args:
        sample_rate: Hz, at least ``MIN_K_WEIGHTING_RATE`` (accurate to 0.05 dB
            up to 10 kHz from ``K_WEIGHTING_RATE`` up).

    Returns:
        float64 array, shape ``(2, 6)``: the high-shelf pre-filter then the RLB
        high-pass, in ``scipy.signal.sosfilt`` layout ``[b0 b1 b2 a0 a1 a2]``.
    """
    _check_sample_rate(sample_rate)
    k = math.tan(math.pi * _SHELF_HZ / sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_BANDWIDTH_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    a0 = _highpass_a0(sample_rate)
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    # The standard's 48 kHz high-pass has an unnormalised numerator (1, -2, 1),
    # i.e. a passband gain of a0(48 kHz); keep that gain at every rate.
    gain = _highpass_a0(_REFERENCE_RATE) / a0
    highpass = [
        gain,
        -2.0 * gain,
        gain,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _HIGHPASS_Q + k * k) / a0,
    ]
    return np.array([shelf, highpass], dtype=np.float64)


def _highpass_a0(sample_rate: int) -> float:
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    return 1.0 + k / _HIGHPASS_Q + k * k


def channel_weights(n_channels: int) -> np.ndarray:
    """BS.1770 channel weights for a WAV-ordered layout, float64 shape ``(n_channels,)``."""
    if n_channels < 1:
        raise ValueError(f"n_channels must be >= 1, got {n_channels}")
    weights = np.ones(n_channels)
    if n_channels == 5:  # L R C Ls Rs
        weights[3:5] = _SURROUND_WEIGHT
    elif n_channels == 6:  # L R C LFE Ls Rs
        weights[3] = 0.0
        weights[4:6] = _SURROUND_WEIGHT
    elif n_channels == 8:  # L R C LFE Lb Rb Ls Rs
        weights[3] = 0.0
        weights[6:8] = _SURROUND_WEIGHT
    return weights


def integrated_loudness(samples: np.ndarray, *, sample_rate: int) -> float | None:
    """Gated integrated loudness per ITU-R BS.1770-4 / EBU R128.

    Args:
        samples: float array, shape ``(channels, n)`` or ``(n,)``, full scale ±1,
            channels in WAV order (see :func:`channel_weights`).
        sample_rate: Hz, > 0.

    Returns:
        Loudness in LUFS, or ``None`` for an empty signal or one whose every
        block is gated out (silence, or quieter than -70 LUFS). A signal
        shorter than 400 ms is measured as one block (see the module docstring).
    """
    channels = _as_channels(samples)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if channels.shape[1] == 0:
        return None
    if sample_rate < K_WEIGHTING_RATE:
        channels = _resample(channels, sample_rate, K_WEIGHTING_RATE)
        sample_rate = K_WEIGHTING_RATE
    block_power = _block_mean_squares(channels, sample_rate=sample_rate)
    weighted_power = channel_weights(channels.shape[0]) @ block_power
    with np.errstate(divide="ignore"):
        block_loudness = _LOUDNESS_OFFSET_DB + 10.0 * np.log10(weighted_power)
    above_absolute = block_loudness > ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return None
    relative_gate = _gated_loudness(weighted_power, above_absolute) + RELATIVE_GATE_LU
    gated = above_absolute & (block_loudness > relative_gate)
    if not gated.any():
        return None
    return _gated_loudness(weighted_power, gated)


def _resample(channels: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """``(channels, n)`` at ``rate_in`` → float32 ``(channels, m)`` at ``rate_out``."""
    resampled = soxr.resample(
        np.ascontiguousarray(channels.T, dtype=np.float32), rate_in, rate_out, quality="HQ"
    )
    return np.asarray(resampled, dtype=np.float32).reshape(-1, channels.shape[0]).T


def _gated_loudness(weighted_power: np.ndarray, keep: np.ndarray) -> float:
    # The mean over blocks commutes with the channel-weighted sum.
    return _LOUDNESS_OFFSET_DB + 10.0 * math.log10(float(weighted_power[keep].mean()))


def _block_mean_squares(channels: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Mean square of the K-weighted signal per channel and gating block.

    Returns float64, shape ``(channels, n_blocks)``: blocks of 400 ms every
    100 ms, or one block spanning the whole signal when it is shorter.
    """
    step = round(sample_rate * BLOCK_SECONDS / BLOCK_STEPS)
    block = step * BLOCK_STEPS
    n = channels.shape[1]
    sos = k_weighting_sos(sample_rate)
    if n < block:
        weighted, _ = _k_weighted(channels, sos)
        squared = np.square(weighted, out=weighted)
        return np.asarray(np.mean(squared, axis=-1, keepdims=True), dtype=np.float64)
    step_energy = _step_energies(channels, sos, step=step)
    cumulative = np.concatenate(
        [np.zeros((channels.shape[0], 1)), np.cumsum(step_energy, axis=-1)], axis=-1
    )
    return np.asarray(
        (cumulative[:, BLOCK_STEPS:] - cumulative[:, :-BLOCK_STEPS]) / block, dtype=np.float64
    )


def _step_energies(channels: np.ndarray, sos: np.ndarray, *, step: int) -> np.ndarray:
    """K-weighted energy of each whole 100 ms step, shape ``(channels, n // step)``.

    Filters in chunks (carrying the filter state) so a long file never holds
    a float64 copy of itself.
    """
    n_steps = channels.shape[1] // step
    chunk_steps = max(1, _CHUNK_SAMPLES // step)
    state = np.zeros((sos.shape[0], channels.shape[0], 2))
    energies = np.empty((channels.shape[0], n_steps))
    for first in range(0, n_steps, chunk_steps):
        last = min(first + chunk_steps, n_steps)
        weighted, state = _k_weighted(channels[:, first * step : last * step], sos, state=state)
        squared = np.square(weighted, out=weighted).reshape(channels.shape[0], last - first, step)
        energies[:, first:last] = squared.sum(axis=-1)
    return energies


def _k_weighted(
    channels: np.ndarray, sos: np.ndarray, *, state: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, channels, axis=-1, zi=state)``, minus the silent tail.

    After the last non-zero sample the output is the filters' free response,
    which decays by about 0.5 % a sample (the 38 Hz high-pass) into subnormal
    numbers, where arithmetic is many times slower. Once every state value is
    below ``_NEGLIGIBLE_STATE`` (an energy under 1e-60 of full scale, far
    below the -70 LUFS gate) the rest of the output is set to zero instead
    of filtered.

    Args:
        channels: float32 or float64, shape ``(channels, n)``; filtered in
            float64 (``sosfilt`` converts while it copies, so no float64 copy
            is made beforehand).
        sos: second-order sections, shape ``(n_sections, 6)``.
        state: filter state, shape ``(n_sections, channels, 2)``; zeros if ``None``.

    Returns:
        The filtered float64 ``(channels, n)`` and the final state.
    """
    if state is None:
        state = np.zeros((sos.shape[0], channels.shape[0], 2))
    n = channels.shape[1]
    end = n if n == 0 or channels[:, -1].any() else _sound_end(channels)
    if n - end < _SILENT_TAIL_BLOCK:
        return scipy.signal.sosfilt(sos, channels, axis=-1, zi=state)  # type: ignore[no-any-return]
    weighted = np.zeros(channels.shape)
    if end > 0:  # sosfilt rejects an empty input
        weighted[:, :end], state = scipy.signal.sosfilt(sos, channels[:, :end], axis=-1, zi=state)
    while end < n and np.abs(state).max() >= _NEGLIGIBLE_STATE:
        stop = min(end + _SILENT_TAIL_BLOCK, n)
        weighted[:, end:stop], state = scipy.signal.sosfilt(
            sos, channels[:, end:stop], axis=-1, zi=state
        )
        end = stop
    if end < n:
        state = np.zeros_like(state)
    return weighted, state


def _sound_end(channels: np.ndarray) -> int:
    """One past the last frame where any channel is non-zero (0 for digital silence)."""
    sounding = np.flatnonzero(channels.any(axis=0))
    return int(sounding[-1]) + 1 if sounding.size else 0


def sample_peak_dbfs(samples: np.ndarray) -> float | None:
    """Highest absolute sample value in dBFS; ``None`` for digital silence.

    Args:
        samples: float array of any shape, full scale ±1.
    """
    if samples.size == 0:
        return None
    peak = max(float(samples.max()), -float(samples.min()))
    return _to_db(peak)


def true_peak_dbfs(
    samples: np.ndarray, *, sample_rate: int, sample_peak: float | None = None
) -> float | None:
    """True peak in dBTP per ITU-R BS.1770-4 Annex 2.

    Interpolates 4x with the Annex's 48-tap polyphase FIR (at every sample
    rate) and reports the largest absolute value, never less than the sample
    peak. Only the stretches of the signal that could beat the peak found so
    far are interpolated (see :func:`_pruned_interpolated_peak`); the result
    is bit-identical to interpolating every sample.

    Args:
        samples: float array, shape ``(channels, n)`` or ``(n,)``, full scale ±1.
        sample_rate: Hz, > 0 (the Annex filter is normalised to the rate).
        sample_peak: the largest absolute sample value, when the caller
            already knows it (saves two passes over the samples).

    Returns:
        dBTP, or ``None`` for digital silence or an empty signal.
    """
    channels = _as_channels(samples)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if channels.size == 0:
        return None
    if sample_peak is None:
        sample_peak = max(float(channels.max()), -float(channels.min()))
    peak = float(sample_peak)
    if not peak > 0.0:
        return None
    n = channels.shape[1]
    # In chunks, so a long file never holds a float64 copy of itself.
    for start in range(0, n, _CHUNK_SAMPLES):
        stop = min(start + _CHUNK_SAMPLES, n)
        # The last chunk also covers the filter's ringing past the end.
        end = stop if stop < n else n + _TRUE_PEAK_TAPS_PER_PHASE - 1
        peak = _pruned_interpolated_peak(channels, start, end, floor=peak)
    return _to_db(peak)


def _pruned_interpolated_peak(channels: np.ndarray, start: int, end: int, *, floor: float) -> float:
    """``max(floor, |y|)`` over the interpolated outputs of input positions ``[start, end)``.

    Output ``m`` (four phases) is ``y[m] = sum_k h[k] * x[m - k]``. The outputs
    of each channel are taken in blocks of ``_TRUE_PEAK_BLOCK``. A block is
    skipped when a bound on its ``|y|`` cannot beat ``floor``: first the coarse
    ``sum_k |h[k]| * max |x|``, then :func:`_true_peak_bounds`. The blocks left
    are interpolated in float32 with an error bound, and only those that may
    hold the peak are interpolated again, exactly, with the same ``upfirdn``
    arithmetic as the whole signal would be.
    """
    history = _TRUE_PEAK_TAPS_PER_PHASE - 1
    size = _TRUE_PEAK_BLOCK
    n_blocks = -(-(end - start) // size)
    # padded[:, j] = x[:, start - history + j], zero outside the signal; float32
    # input stays float32 here (exact), only the rows interpolated exactly are
    # converted to float64.
    dtype = np.float32 if channels.dtype == np.float32 else np.float64
    padded = np.zeros((channels.shape[0], (n_blocks + 1) * size), dtype=dtype)
    first = max(start - history, 0)
    last = min(start - history + padded.shape[1], channels.shape[1])
    padded[:, first - (start - history) : last - (start - history)] = channels[:, first:last]
    magnitude = np.abs(padded)
    # Block b's outputs read padded[:, b * size : (b + 1) * size + history].
    largest = np.maximum(
        magnitude[:, : n_blocks * size].reshape(-1, n_blocks, size).max(axis=2),
        magnitude[:, size:].reshape(-1, n_blocks, size)[:, :, :history].max(axis=2),
    )
    channel, block = np.nonzero(largest > floor / (_TRUE_PEAK_GAIN * _BOUND_MARGIN))
    if block.size == 0:
        return floor
    rows = _block_inputs(padded)[channel, block]
    largest = largest[channel, block].astype(np.float64)
    loud = _true_peak_bounds(rows, largest) > floor
    if not loud.any():
        return floor
    rows, largest = rows[loud], largest[loud]
    if not _FLOAT32_RANGE[0] < floor < _FLOAT32_RANGE[1]:
        return max(floor, _rows_peak(rows.astype(np.float64)))
    estimate = _estimated_rows_peaks(rows)
    error = _FLOAT32_ERROR * _TRUE_PEAK_GAIN * largest
    # Every row's exact peak is within `error` of its estimate, so the peak is
    # at least `lowest` and only rows reaching above it can hold it.
    lowest = max(floor, float((estimate - error).max()))
    contenders = estimate + error > lowest
    if not contenders.any():
        return floor
    return max(floor, _rows_peak(rows[contenders].astype(np.float64)))


def _block_inputs(padded: np.ndarray) -> np.ndarray:
    """View of the inputs each block of outputs reads, ``(channels, n_blocks, size + 11)``."""
    history = _TRUE_PEAK_TAPS_PER_PHASE - 1
    size = _TRUE_PEAK_BLOCK
    n_blocks = padded.shape[1] // size - 1
    channel_stride, sample_stride = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded,
        shape=(padded.shape[0], n_blocks, size + history),
        strides=(channel_stride, size * sample_stride, sample_stride),
        writeable=False,
    )


def _estimated_rows_peaks(rows: np.ndarray) -> np.ndarray:
    """Largest ``|y|`` of each row's block, interpolated in float32: ``(n_rows,)``.

    Within ``_FLOAT32_ERROR * sum_k |h[k]| * max |row|`` of the exact value:
    rounding the inputs and taps to float32 and summing 12 products (in any
    order) errs by at most ``14 * 2**-24`` of ``sum_k |h[k] x[n - k]|``.
    """
    history = _TRUE_PEAK_TAPS_PER_PHASE - 1
    positions = rows.shape[1] - history
    peaks = np.empty(rows.shape[0])
    for first in range(0, rows.shape[0], _ESTIMATE_BATCH_ROWS):
        batch = np.ascontiguousarray(rows[first : first + _ESTIMATE_BATCH_ROWS], dtype=np.float32)
        windows = np.lib.stride_tricks.as_strided(
            batch,
            shape=(batch.shape[0], positions, history + 1),
            strides=(batch.strides[0], batch.strides[1], batch.strides[1]),
            writeable=False,
        )
        interpolated = np.ascontiguousarray(windows).reshape(-1, history + 1) @ _FLOAT32_TAPS
        interpolated = np.abs(interpolated, out=interpolated).reshape(batch.shape[0], -1)
        peaks[first : first + batch.shape[0]] = interpolated.max(axis=1)
    return peaks


def _true_peak_bounds(rows: np.ndarray, largest: np.ndarray) -> np.ndarray:
    """Upper bound on every interpolated ``|y|`` of each block, float64 ``(n_rows,)``.

    ``rows`` are the inputs the blocks read, shape ``(n_rows, _TRUE_PEAK_BLOCK + 11)``,
    and ``largest`` their largest ``|x|``, M.
    With D a row's largest ``|x[i] - x[i - 1]|``,
    writing ``x[n - k] = x[n - c] + (x[n - k] - x[n - c])`` bounds each phase's
    output by ``|sum_k h[k]| * M + sum_k |h[k]| |k - c| * D``: close to M where
    the signal is smooth, as it is around most peaks.
    """
    steepest = np.abs(np.diff(rows, axis=1)).max(axis=1)
    smooth = np.max(
        _TRUE_PEAK_DC_GAINS[:, np.newaxis] * largest
        + _TRUE_PEAK_SLOPE_GAINS[:, np.newaxis] * steepest,
        axis=0,
    )
    return np.asarray(np.minimum(_TRUE_PEAK_GAIN * largest, smooth) * _BOUND_MARGIN)


def _rows_peak(rows: np.ndarray) -> float:
    """Largest absolute interpolated output of the blocks whose inputs are ``rows``."""
    history = _TRUE_PEAK_TAPS_PER_PHASE - 1
    up = TRUE_PEAK_OVERSAMPLING
    interpolated = scipy.signal.upfirdn(_TRUE_PEAK_PROTOTYPE, rows, up=up, axis=1)
    # Drop the outputs that still read the zeros before each row (the first
    # `history` inputs) and the ringing past each row's end.
    kept = interpolated[:, history * up : rows.shape[1] * up]
    return max(float(kept.max()), -float(kept.min()))


def rms_dbfs(samples: np.ndarray) -> float | None:
    """Root-mean-square level over all channels and samples, in dBFS.

    A full-scale square wave reads 0 dBFS and a full-scale sine -3.01 dBFS
    (no AES17 +3 dB correction).

    Args:
        samples: float array of any shape, full scale ±1.

    Returns:
        dBFS, or ``None`` for digital silence or an empty signal.
    """
    if samples.size == 0:
        return None
    flat = samples.reshape(-1)
    total = 0.0
    for start in range(0, flat.size, _CHUNK_SAMPLES):
        chunk = flat[start : start + _CHUNK_SAMPLES].astype(np.float64)
        total += float(np.dot(chunk, chunk))
    return _to_db(math.sqrt(total / flat.size))


def _to_db(amplitude: float) -> float | None:
    return 20.0 * math.log10(amplitude) if amplitude > 0.0 else None


def _as_channels(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 1:
        return samples[np.newaxis, :]
    if samples.ndim != 2:
        raise ValueError(f"expected shape (channels, n) or (n,), got {samples.shape}")
    if samples.shape[0] < 1:
        raise ValueError("samples must have at least one channel")
    return samples


def _check_sample_rate(sample_rate: int) -> None:
    if sample_rate < MIN_K_WEIGHTING_RATE:
        raise ValueError(
            f"sample_rate must be >= {MIN_K_WEIGHTING_RATE} Hz for K-weighting, got {sample_rate}"
        )
