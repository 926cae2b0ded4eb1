"""Vectorised generators for the seven processes of the synthetic benchmark.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi. *Benchmarking Deep Learning Interpretability in Time
Series Predictions.* NeurIPS 2020 sampled every feature of every sample with the TimeSynth package,
one Python call per (sample, feature). TimeSynth no longer installs with current numpy, so the
same processes are written here as batched torch code: one call draws ``(n, n_time, n_features)``.

Every generator returns a float tensor of shape ``(n, n_time, n_features)`` and draws all its
randomness from the given ``torch.Generator`` (on the generator's device). The constants below are
the ones the authors used ([TSB] and their TimeSynth settings).

Example:
    >>> from saliencylab.data.processes import sample_process
    >>> x = sample_process("AutoRegressive", 8, n_time=50, n_features=50, seed=0)
    >>> tuple(x.shape)
    (8, 50, 50)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from saliencylab.errors import ConfigError, InvalidDataError, UnknownNameError
from saliencylab.utils import chunks, make_generator

# Order of the reference code (createDatasets.py): the box on N(0,1), then the TimeSynth processes.
PROCESSES: tuple[str, ...] = (
    "Gaussian",
    "Harmonic",
    "GaussianProcess",
    "PseudoPeriodic",
    "AutoRegressive",
    "CAR",
    "NARMA",
)

# Constants of [TSB] (reference createSimulationDataProcesses.py + TimeSynth defaults).
NOISE_STD = 0.3  # GaussianNoise(std=0.3) added to every TimeSynth process
TIME_STOP = 20.0  # TimeSampler(stop_time=20)
HARMONIC_FREQUENCY = 2.0
GP_NU, GP_LENGTHSCALE, GP_VARIANCE = 1.5, 1.0, 1.0
PSEUDO_FREQUENCY, PSEUDO_FREQ_SD, PSEUDO_AMPLITUDE, PSEUDO_AMP_SD = 2.0, 0.01, 1.0, 0.5
AR_PHI, AR_SIGMA = 0.9, 0.5
CAR_PHI, CAR_SIGMA, CAR_START = 0.9, 0.01, 0.01
NARMA_ORDER = 10
NARMA_COEFFICIENTS = (0.3, 0.05, 1.5, 0.1)
NARMA_REFERENCE_SEED = 42  # TimeSynth's NARMA(seed=42) default, re-created for every feature


def _check_sizes(n: int, n_time: int, n_features: int) -> None:
    for name, value, low in (("n", n, 0), ("n_time", n_time, 1), ("n_features", n_features, 1)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _device(generator: torch.Generator) -> torch.device:
    return generator.device


# Signals are computed in float32 (float32 normal draws are ~5x faster than float64 ones on CPU);
# time grids and the GP covariance, where precision matters, in float64.


def _randn(generator: torch.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, device=_device(generator), dtype=dtype)


def _rand(generator: torch.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=_device(generator), dtype=dtype)


def _noise(generator, n, n_time, n_features, std: float) -> torch.Tensor:
    return std * _randn(generator, n, n_time, n_features)


def irregular_time_grid(
    n: int,
    n_time: int,
    generator: torch.Generator,
    *,
    stop: float = TIME_STOP,
    keep_fraction: float = 0.5,
) -> torch.Tensor:
    """Irregular sampling times, one row per sample, as TimeSynth's ``sample_irregular_time``.

    ``n_time / keep_fraction`` evenly spaced points on ``[0, stop]`` (100 for ``n_time=50``); keep
    a random ``n_time`` of them, sorted; jitter each by ``N(0, resolution)`` with
    ``resolution = stop / n_points`` (0.2 for the [TSB] setting) and sort again.

    Args:
        n: number of samples (rows).
        n_time: number of kept time points per row.
        generator: source of randomness; the result lives on its device.
        stop: end of the time interval.
        keep_fraction: fraction of the evenly spaced points kept (0.5 in [TSB]).

    Returns:
        float64 tensor ``(n, n_time)``, each row sorted ascending.

    Example:
        >>> from saliencylab.utils import make_generator
        >>> irregular_time_grid(2, 50, make_generator(0)).shape
        torch.Size([2, 50])
    """
    _check_sizes(n, n_time, 1)
    if not 0 < keep_fraction <= 1:
        raise ConfigError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    n_points = int(round(n_time / keep_fraction))
    device = _device(generator)
    grid = torch.linspace(0.0, stop, n_points, dtype=torch.float64, device=device)
    # A random subset per row without replacement: the first n_time of a random permutation.
    order = _rand(generator, n, n_points, dtype=torch.float64).argsort(dim=1)
    keep = order[:, :n_time].sort(dim=1).values
    resolution = stop / n_points
    times = grid[keep] + resolution * _randn(generator, n, n_time, dtype=torch.float64)
    return times.sort(dim=1).values


def gaussian(
    n: int, n_time: int, n_features: int, generator: torch.Generator
) -> torch.Tensor:
    """i.i.d. ``N(0, 1)`` noise, the "Box" process of [TSB] (no time grid, no extra noise).

    Example:
        >>> from saliencylab.utils import make_generator
        >>> gaussian(4, 50, 50, make_generator(0)).shape
        torch.Size([4, 50, 50])
    """
    return _randn(generator, n, n_time, n_features)


def harmonic(
    n: int,
    n_time: int,
    n_features: int,
    generator: torch.Generator,
    *,
    frequency: float = HARMONIC_FREQUENCY,
    amplitude: float = 1.0,
    noise_std: float = NOISE_STD,
) -> torch.Tensor:
    """``amplitude * sin(2*pi*frequency*t)`` on each sample's irregular grid, plus noise.

    The signal is deterministic given the grid, and the grid is shared by all features of a
    sample, so the features of one sample differ only by their noise (as in [TSB]).

    Example:
        >>> from saliencylab.utils import make_generator
        >>> harmonic(4, 50, 3, make_generator(0)).shape
        torch.Size([4, 50, 3])
    """
    times = irregular_time_grid(n, n_time, generator)
    signal = (amplitude * torch.sin(2 * math.pi * frequency * times)).float()
    return signal[:, :, None] + _noise(generator, n, n_time, n_features, noise_std)


def matern_kernel(
    r: torch.Tensor, nu: float = GP_NU, lengthscale: float = GP_LENGTHSCALE,
    variance: float = GP_VARIANCE,
) -> torch.Tensor:
    """Matérn covariance of distances ``r`` for ``nu`` in {0.5, 1.5, 2.5} (closed forms).

    Example:
        >>> float(matern_kernel(torch.tensor(0.0)))
        1.0
    """
    d = r.abs() / lengthscale
    if nu == 0.5:
        return variance * torch.exp(-d)
    if nu == 1.5:
        s = math.sqrt(3.0) * d
        return variance * (1 + s) * torch.exp(-s)
    if nu == 2.5:
        s = math.sqrt(5.0) * d
        return variance * (1 + s + s * s / 3) * torch.exp(-s)
    raise ConfigError(f"nu must be 0.5, 1.5 or 2.5 (closed-form Matérn kernels), got {nu}")


def _batched_cholesky(cov: torch.Tensor, jitter: float) -> torch.Tensor:
    """Cholesky factors of a batch; rows that fail get 10x more diagonal jitter, up to 1e-4."""
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    factor, info = torch.linalg.cholesky_ex(cov + jitter * eye)
    while bool((info > 0).any()):
        jitter = max(10 * jitter, 1e-12)
        if jitter > 1e-4:
            raise InvalidDataError(
                "GaussianProcess covariance is not positive definite even with 1e-4 jitter"
            )
        bad = info > 0
        factor[bad], info[bad] = torch.linalg.cholesky_ex(cov[bad] + jitter * eye)
    return factor


def gaussian_process(
    n: int,
    n_time: int,
    n_features: int,
    generator: torch.Generator,
    *,
    nu: float = GP_NU,
    lengthscale: float = GP_LENGTHSCALE,
    variance: float = GP_VARIANCE,
    noise_std: float = NOISE_STD,
    jitter: float = 1e-10,
) -> torch.Tensor:
    """Zero-mean Gaussian process with a Matérn kernel (``nu=1.5``) on the irregular grid.

    One covariance and one Cholesky factor per sample (the grid is shared by its features),
    computed for the whole batch at once in float64; every feature is an independent draw
    ``L @ z``. TimeSynth used ``np.random.multivariate_normal`` per feature with 1e-12 jitter.

    Example:
        >>> from saliencylab.utils import make_generator
        >>> gaussian_process(4, 50, 3, make_generator(0)).shape
        torch.Size([4, 50, 3])
    """
    times = irregular_time_grid(n, n_time, generator)
    cov = matern_kernel(times[:, :, None] - times[:, None, :], nu, lengthscale, variance)
    factor = _batched_cholesky(cov, jitter)
    signal = factor.float() @ _randn(generator, n, n_time, n_features)
    return signal + _noise(generator, n, n_time, n_features, noise_std)


def pseudo_periodic(
    n: int,
    n_time: int,
    n_features: int,
    generator: torch.Generator,
    *,
    frequency: float = PSEUDO_FREQUENCY,
    freq_sd: float = PSEUDO_FREQ_SD,
    amplitude: float = PSEUDO_AMPLITUDE,
    amp_sd: float = PSEUDO_AMP_SD,
    noise_std: float = NOISE_STD,
) -> torch.Tensor:
    """Sine with a frequency and an amplitude drawn afresh at every time point, plus noise.

    As TimeSynth's ``PseudoPeriodic.sample_vectorized``: ``a_t * sin(f_t * t)`` with
    ``f_t ~ N(frequency, freq_sd)``, ``a_t ~ N(amplitude, amp_sd)`` and, unlike ``Harmonic``,
    no factor 2*pi inside the sine.

    Example:
        >>> from saliencylab.utils import make_generator
        >>> pseudo_periodic(4, 50, 3, make_generator(0)).shape
        torch.Size([4, 50, 3])
    """
    times = irregular_time_grid(n, n_time, generator)[:, :, None].float()
    freq = frequency + freq_sd * _randn(generator, n, n_time, n_features)
    amp = amplitude + amp_sd * _randn(generator, n, n_time, n_features)
    return amp * torch.sin(freq * times) + _noise(generator, n, n_time, n_features, noise_std)


def auto_regressive(
    n: int,
    n_time: int,
    n_features: int,
    generator: torch.Generator,
    *,
    phi: float = AR_PHI,
    sigma: float = AR_SIGMA,
    noise_std: float = NOISE_STD,
) -> torch.Tensor:
    """AR(1) ``x_t = phi * x_{t-1} + e_t``, ``e_t ~ N(0, sigma)``, ``x_{-1} = 0``, plus noise.

    TimeSynth's AutoRegressive ignores the time stamps (regular-sampling process), so no grid is
    drawn. The recursion is a lower-triangular Toeplitz matrix ``P[t, s] = phi**(t-s)`` applied
    to the innovations in one matmul, which is exact and faster than a loop over time.

    Example:
        >>> from saliencylab.utils import make_generator
        >>> auto_regressive(4, 50, 3, make_generator(0)).shape
        torch.Size([4, 50, 3])
    """
    device = _device(generator)
    steps = torch.arange(n_time, device=device, dtype=torch.float32)
    lag = steps[:, None] - steps[None, :]
    powers = torch.where(lag >= 0, float(phi) ** lag.clamp(min=0), torch.zeros_like(lag))
    innovations = sigma * _randn(generator, n, n_time, n_features)
    return powers @ innovations + _noise(generator, n, n_time, n_features, noise_std)


def car(
    n: int,
    n_time: int,
    n_features: int,
    generator: torch.Generator,
    *,
    phi: float = CAR_PHI,
    sigma: float = CAR_SIGMA,
    start: float = CAR_START,
    noise_std: float = NOISE_STD,
) -> torch.Tensor:
    """Continuous AR(1) on the irregular grid, as TimeSynth's ``CAR``, plus noise.

    ``x_0 = start``; ``x_k = phi**dt_k * x_{k-1} + sigma * sqrt(1 - phi**dt_k) * e_k`` with
    ``dt_k = t_k - t_{k-1}``. Unrolled: ``x_k = phi**(t_k - t_0) * start +
    sum_{j<=k} phi**(t_k - t_j) * sigma * sqrt(1 - phi**dt_j) * e_j``, one batched matmul.
    With ``sigma = 0.01`` the signal is nearly flat and the observation noise dominates.

    Example:
        >>> from saliencylab.utils import make_generator
        >>> car(4, 50, 3, make_generator(0)).shape
        torch.Size([4, 50, 3])
    """
    if not 0 < phi <= 1:
        raise ConfigError(f"CAR phi must be in (0, 1], got {phi}")
    times = irregular_time_grid(n, n_time, generator)
    log_phi = math.log(phi)
    gap = times[:, :, None] - times[:, None, :]  # t_k - t_j
    lower = torch.ones(n_time, n_time, dtype=torch.bool, device=times.device).tril()
    weights = torch.where(lower, torch.exp(log_phi * gap.clamp(min=0)), 0.0).float()
    dt = torch.diff(times, dim=1, prepend=times[:, :1])  # dt_0 = 0: x_0 carries no innovation
    scale = sigma * torch.sqrt((1 - torch.exp(log_phi * dt)).clamp(min=0))
    innovations = scale.float()[:, :, None] * _randn(generator, n, n_time, n_features)
    decay = torch.exp(log_phi * (times - times[:, :1])).float()[:, :, None]
    signal = decay * start + weights @ innovations
    return signal + _noise(generator, n, n_time, n_features, noise_std)


NARMA_BOUND = 2.0  # |y| beyond this has passed the unstable fixed point (~1.03): it diverges


def _narma_recursion(
    u: torch.Tensor, order: int, coefficients: tuple[float, ...], reference_sum: bool
) -> torch.Tensor:
    """NARMA outputs ``(B, n_time, C)`` for inputs ``u`` of shape ``(B, order + n_time, C)``."""
    a0, a1, a2, a3 = (float(c) for c in coefficients)
    y = torch.zeros_like(u)  # the first ``order`` values are the (zero) initial condition
    for i in range(order, u.shape[1]):
        window = y[:, i - order : order] if reference_sum else y[:, i - order : i]
        prev = y[:, i - 1]
        y[:, i] = a0 * prev + a1 * prev * window.sum(dim=1) + a2 * u[:, i - order] * u[:, i] + a3
    return y[:, order:]


def narma(
    n: int,
    n_time: int,
    n_features: int,
    generator: torch.Generator,
    *,
    order: int = NARMA_ORDER,
    coefficients: tuple[float, float, float, float] = NARMA_COEFFICIENTS,
    noise_std: float = NOISE_STD,
    shared_seed: bool = False,
    reference_sum: bool = False,
    max_redraws: int = 100,
) -> torch.Tensor:
    """NARMA of order ``order`` with ``U(0, 0.5)`` input, plus noise (TimeSynth's ``NARMA``).

    ``y_i = a0*y_{i-1} + a1*y_{i-1}*sum_{k=1..order} y_{i-k} + a2*u_{i-order}*u_i + a3`` with
    ``order`` zero initial values and ``order + n_time`` inputs ``u``. The loop runs over time
    only, vectorised over samples x features.

    The standard NARMA-10 recursion diverges for a few input draws (about 1 series in 5000 at 50
    steps, more for longer series); such series (``|y| > 2`` or non-finite) get their input
    redrawn, so the result is NARMA conditioned on staying bounded, and never holds inf or NaN.

    Reference quirks (off by default):
        shared_seed: TimeSynth's NARMA reseeds ``RandomState(42)`` on construction, so in [TSB]
            every feature of every sample has the same series and only the noise differs. This
            re-creates exactly that series (numpy ``RandomState(42)``).
        reference_sum: TimeSynth sums ``y[i-order:order]`` (a slice with a fixed end) instead of
            the last ``order`` values; with zero initial values that term is always zero.

    Example:
        >>> from saliencylab.utils import make_generator
        >>> narma(4, 50, 3, make_generator(0)).shape
        torch.Size([4, 50, 3])
    """
    if order < 1:
        raise ConfigError(f"NARMA order must be >= 1, got {order}")
    device = _device(generator)
    if shared_seed:
        rng = np.random.RandomState(NARMA_REFERENCE_SEED)
        u_init = rng.uniform(0, 0.5, size=order)
        u_rest = rng.uniform(0, 0.5, size=n_time)
        u = torch.from_numpy(np.concatenate([u_init, u_rest])).to(device)[None, :, None]
        series = _narma_recursion(u, order, coefficients, reference_sum)
        if not bool(torch.isfinite(series).all()):
            raise InvalidDataError(f"the reference NARMA series diverges within {n_time} steps")
        signal = series.float().expand(n, n_time, n_features)
    else:
        u = 0.5 * _rand(generator, n, order + n_time, n_features)
        signal = _narma_recursion(u, order, coefficients, reference_sum)
        for _ in range(max_redraws):
            bad = ~(torch.isfinite(signal) & (signal.abs() <= NARMA_BOUND)).all(dim=1)  # (n, F)
            if not bool(bad.any()):
                break
            rows, cols = bad.nonzero(as_tuple=True)
            u_new = 0.5 * _rand(generator, len(rows), order + n_time, 1)
            signal[rows, :, cols] = _narma_recursion(u_new, order, coefficients, reference_sum)[
                :, :, 0
            ]
        else:
            raise InvalidDataError(
                f"NARMA series still diverge after {max_redraws} redraws; use fewer time steps "
                f"(got n_time={n_time}) or smaller coefficients"
            )
    return signal + _noise(generator, n, n_time, n_features, noise_std)


ProcessFn = Callable[..., torch.Tensor]

PROCESS_FUNCTIONS: dict[str, ProcessFn] = {
    "Gaussian": gaussian,
    "Harmonic": harmonic,
    "GaussianProcess": gaussian_process,
    "PseudoPeriodic": pseudo_periodic,
    "AutoRegressive": auto_regressive,
    "CAR": car,
    "NARMA": narma,
}

def sample_process(
    name: str,
    n: int,
    n_time: int = 50,
    n_features: int = 50,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    batch_size: int | None = None,
    narma_shared_seed: bool = False,
    narma_reference_sum: bool = False,
    **params: float,
) -> torch.Tensor:
    """Draw ``n`` samples ``(n, n_time, n_features)`` of process ``name`` (see :data:`PROCESSES`).

    Args:
        name: one of :data:`PROCESSES`.
        n, n_time, n_features: output shape.
        generator: source of randomness (its device is used); else ``seed`` makes one on CPU.
        seed: used when ``generator`` is None (None: a random seed).
        dtype: output dtype (signals are computed in float32, grids and covariances in
            float64).
        batch_size: draw at most this many samples at a time (bounds memory for large grids;
            the numbers depend on it because the draws are consumed in a different order).
        narma_shared_seed, narma_reference_sum: NARMA reference quirks, see :func:`narma`;
            ignored by the other processes.
        **params: overrides of the process's constants (e.g. ``phi=0.5`` for AutoRegressive).

    Example:
        >>> x = sample_process("NARMA", 3, 50, 50, seed=1)
        >>> bool(torch.isfinite(x).all())
        True
    """
    if name not in PROCESS_FUNCTIONS:
        raise UnknownNameError("process", name, PROCESSES)
    _check_sizes(n, n_time, n_features)
    fn = PROCESS_FUNCTIONS[name]
    if name == "NARMA":
        params = {**params, "shared_seed": narma_shared_seed, "reference_sum": narma_reference_sum}
    generator = generator if generator is not None else make_generator(seed)
    parts = []
    for part in chunks(n, batch_size):
        try:
            x = fn(part.stop - part.start, n_time, n_features, generator, **params)
        except TypeError as exc:
            if "unexpected keyword" in str(exc):
                raise ConfigError(f"process {name!r} does not take parameter(s): {exc}") from exc
            raise
        parts.append(x)
    if not parts:  # n == 0
        return torch.empty(0, n_time, n_features, dtype=dtype, device=generator.device)
    return torch.cat(parts).to(dtype)
