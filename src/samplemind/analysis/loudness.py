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
        weighted = scipy.signal.sosfilt(sos, channels.astype(np.float64), axis=-1)
        return np.asarray(np.mean(weighted * weighted, axis=-1, keepdims=True), dtype=np.float64)
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
        chunk = channels[:, first * step : last * step].astype(np.float64)
        weighted, state = scipy.signal.sosfilt(sos, chunk, axis=-1, zi=state)
        squared = (weighted * weighted).reshape(channels.shape[0], last - first, step)
        energies[:, first:last] = squared.sum(axis=-1)
    return energies


def sample_peak_dbfs(samples: np.ndarray) -> float | None:
    """Highest absolute sample value in dBFS; ``None`` for digital silence.

    Args:
        samples: float array of any shape, full scale ±1.
    """
    if samples.size == 0:
        return None
    peak = max(float(samples.max()), -float(samples.min()))
    return _to_db(peak)


def true_peak_dbfs(samples: np.ndarray, *, sample_rate: int) -> float | None:
    """True peak in dBTP per ITU-R BS.1770-4 Annex 2.

    Interpolates 4x with the Annex's 48-tap polyphase FIR (at every sample
    rate) and reports the largest absolute value, never less than the sample
    peak.

    Args:
        samples: float array, shape ``(channels, n)`` or ``(n,)``, full scale ±1.
        sample_rate: Hz, > 0 (the Annex filter is normalised to the rate).

    Returns:
        dBTP, or ``None`` for digital silence or an empty signal.
    """
    channels = _as_channels(samples)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    sample_peak = sample_peak_dbfs(channels)
    if sample_peak is None:
        return None
    interpolated = max(_interpolated_peak(channel) for channel in channels)
    return max(sample_peak, _to_db(interpolated) or sample_peak)


def _interpolated_peak(signal: np.ndarray) -> float:
    """Largest absolute value of the 4x interpolated signal, in chunks."""
    history = _TRUE_PEAK_TAPS_PER_PHASE - 1
    up = TRUE_PEAK_OVERSAMPLING
    n = signal.size
    peak = 0.0
    for start in range(0, n, _CHUNK_SAMPLES):
        stop = min(start + _CHUNK_SAMPLES, n)
        first = max(start - history, 0)
        segment = signal[first:stop].astype(np.float64)
        interpolated = scipy.signal.upfirdn(_TRUE_PEAK_PROTOTYPE, segment, up=up)
        # Outputs before `start` were computed by the previous chunk; after
        # `stop` they are the filter's ringing into the zeros past the end.
        keep_from = (start - first) * up
        keep_to = interpolated.size if stop == n else (stop - first) * up
        part = interpolated[keep_from:keep_to]
        peak = max(peak, float(part.max()), -float(part.min()))
    return peak


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
