"""The seven generating processes of [TSB]: shapes, statistics, exact recursions, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from saliencylab.data.processes import (
    PROCESSES,
    auto_regressive,
    car,
    gaussian_process,
    harmonic,
    irregular_time_grid,
    matern_kernel,
    narma,
    pseudo_periodic,
    sample_process,
)
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError
from saliencylab.utils import make_generator

torch.set_num_threads(1)


def gen(seed: int = 0) -> torch.Generator:
    return make_generator(seed)


@pytest.mark.parametrize("process", PROCESSES)
def test_shape_dtype_finite(process):
    x = sample_process(process, 7, n_time=13, n_features=5, seed=0)
    assert x.shape == (7, 13, 5)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.std() > 0.1  # not a constant


@pytest.mark.parametrize("process", PROCESSES)
def test_same_seed_same_numbers_other_seed_other_numbers(process):
    a = sample_process(process, 4, 20, 6, seed=3)
    b = sample_process(process, 4, 20, 6, generator=gen(3))
    c = sample_process(process, 4, 20, 6, seed=4)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # samples differ from each other


@pytest.mark.parametrize("process", PROCESSES)
def test_batch_size_and_empty(process):
    x = sample_process(process, 10, 8, 3, seed=0, batch_size=3)
    assert x.shape == (10, 8, 3) and torch.isfinite(x).all()
    assert sample_process(process, 0, 8, 3, seed=0).shape == (0, 8, 3)


def test_bad_names_and_values():
    with pytest.raises(UnknownNameError):
        sample_process("Brownian", 2, seed=0)
    with pytest.raises(ConfigError):
        sample_process("Gaussian", -1, seed=0)
    with pytest.raises(ConfigError):
        sample_process("Gaussian", 2, n_time=0, seed=0)
    with pytest.raises(ConfigError):
        sample_process("Harmonic", 2, seed=0, phi=0.3)  # Harmonic has no phi
    with pytest.raises(SaliencyLabError):
        matern_kernel(torch.zeros(2), nu=0.7)


def test_irregular_grid_follows_timesynth():
    t = irregular_time_grid(400, 50, gen(0))
    assert t.shape == (400, 50) and t.dtype == torch.float64
    assert (t.diff(dim=1) >= 0).all()  # sorted
    assert not torch.equal(t[0], t[1])  # one grid per sample
    # 50 of 100 points of [0, 20] kept, jitter sd 0.2: mean spacing ~0.4, mean time ~10.
    assert abs(t.mean().item() - 10.0) < 0.2
    assert 0.35 < t.diff(dim=1).mean().item() < 0.42
    assert t.min() > -1.5 and t.max() < 21.5
    assert irregular_time_grid(3, 20, gen(0)).shape == (3, 20)  # scales with n_time


def test_gaussian_moments():
    x = sample_process("Gaussian", 200, 50, 50, seed=0).double()
    assert abs(x.mean().item()) < 0.01
    assert abs(x.var().item() - 1.0) < 0.01
    lag1 = torch.corrcoef(torch.stack([x[:, 1:].flatten(), x[:, :-1].flatten()]))[0, 1]
    assert abs(lag1.item()) < 0.01


def _lag1(x: torch.Tensor) -> float:
    x = x.double() - x.double().mean()
    return ((x[:, 1:] * x[:, :-1]).mean() / (x * x).mean()).item()


def test_autoregressive_recursion_and_autocorrelation():
    x = auto_regressive(100, 50, 40, gen(0), noise_std=0.0).double()
    innovations = x[:, 1:] - 0.9 * x[:, :-1]
    assert abs(x[:, 0].std().item() - 0.5) < 0.02  # x_0 = 0.9 * 0 + e_0
    assert abs(innovations.std().item() - 0.5) < 0.01
    assert abs(_lag1(innovations)) < 0.02  # the innovations are white
    # With the observation noise the lag-1 autocorrelation is ~0.84 (Gaussian: ~0).
    assert _lag1(sample_process("AutoRegressive", 100, 50, 40, seed=0)) > 0.75
    assert abs(_lag1(sample_process("Gaussian", 100, 50, 40, seed=0))) < 0.05


def test_harmonic_is_a_sine_on_the_sample_grid():
    t = irregular_time_grid(6, 50, gen(5))
    x = harmonic(6, 50, 4, gen(5), noise_std=0.0)
    expected = torch.sin(2 * math.pi * 2.0 * t).float()
    torch.testing.assert_close(x[:, :, 0], expected, atol=1e-5, rtol=0)
    assert torch.equal(x[:, :, 0], x[:, :, 3])  # features share the grid
    # Period 1/frequency: the same sine half a time unit later.
    torch.testing.assert_close(torch.sin(2 * math.pi * 2.0 * (t + 0.5)).float(), expected,
                               atol=1e-4, rtol=0)
    noisy = sample_process("Harmonic", 200, 50, 10, generator=gen(5))
    clean = harmonic(200, 50, 10, gen(5), noise_std=0.0)
    assert abs((noisy - clean).std().item() - 0.3) < 0.01


def test_pseudo_periodic_reduces_to_sin_without_spread():
    t = irregular_time_grid(3, 50, gen(2))
    x = pseudo_periodic(3, 50, 2, gen(2), freq_sd=0.0, amp_sd=0.0, noise_std=0.0)
    torch.testing.assert_close(x[:, :, 1], torch.sin(2.0 * t).float(), atol=1e-5, rtol=0)
    # Amplitude sd 0.5 drawn per point: E[a^2 sin^2] = 1.25 * ~0.5.
    y = pseudo_periodic(300, 50, 20, gen(2), noise_std=0.0)
    assert 0.55 < (y.double() ** 2).mean().item() < 0.7


def test_gaussian_process_covariance_is_matern():
    n_features = 4000
    t = irregular_time_grid(1, 50, gen(9))[0]
    x = gaussian_process(1, 50, n_features, gen(9), noise_std=0.0)[0].double()  # (T, F)
    empirical = x @ x.T / n_features
    expected = matern_kernel(t[:, None] - t[None, :])
    assert (empirical - expected).abs().max() < 0.12
    assert abs(torch.diagonal(empirical).mean().item() - 1.0) < 0.05


def test_car_starts_at_start_value_and_follows_the_recursion():
    t = irregular_time_grid(2, 50, gen(4))
    x = car(2, 50, 3000, gen(4), noise_std=0.0).double()
    torch.testing.assert_close(x[:, 0], torch.full_like(x[:, 0], 0.01), atol=1e-6, rtol=0)
    decay = (0.9 ** t.diff(dim=1))[:, :, None]
    std = 0.01 * torch.sqrt(1 - decay)
    z = (x[:, 1:] - decay * x[:, :-1]) / std
    assert abs(z.std().item() - 1.0) < 0.03  # standardised innovations ~ N(0, 1)
    assert x.abs().max() < 0.1  # nearly flat
    noisy = sample_process("CAR", 100, 50, 50, seed=0)
    assert abs(noisy.std().item() - 0.3) < 0.01  # the observation noise dominates


def _timesynth_narma(n_time: int) -> np.ndarray:
    """TimeSynth 0.2.4's NARMA(order=10).sample_vectorized, transcribed (reference)."""
    order, a = 10, np.array([0.3, 0.05, 1.5, 0.1])
    rng = np.random.RandomState(42)
    rands = np.concatenate((rng.uniform(0, 0.5, size=order), rng.uniform(0, 0.5, size=n_time)))
    y = np.zeros(order + n_time)
    for i in range(order, order + n_time):
        y[i] = a[0] * y[i - 1] + a[1] * y[i - 1] * np.sum(y[i - order:order]) \
            + a[2] * rands[i - order] * rands[i] + a[3]
    return y[order:]


def test_narma_default_is_bounded_and_independent_per_feature():
    x = narma(300, 50, 20, gen(0), noise_std=0.0)
    assert torch.isfinite(x).all() and x.abs().max() <= 2.0
    assert 0.3 < x.mean().item() < 0.42  # stationary level of NARMA-10 with U(0, 0.5) input
    assert not torch.allclose(x[:, :, 0], x[:, :, 1])
    # Long series would diverge for some inputs; those inputs are redrawn.
    long = narma(200, 300, 10, gen(1), noise_std=0.0)
    assert torch.isfinite(long).all() and long.abs().max() <= 2.0


def test_narma_reference_quirks_reproduce_timesynth():
    x = narma(3, 50, 4, gen(0), noise_std=0.0, shared_seed=True, reference_sum=True)
    ref = torch.from_numpy(_timesynth_narma(50)).float()
    for i in range(3):
        for f in range(4):
            torch.testing.assert_close(x[i, :, f], ref, atol=1e-6, rtol=0)


def test_narma_shared_seed_quirk_only_noise_differs():
    x = sample_process("NARMA", 50, 50, 30, seed=0, narma_shared_seed=True).double()
    residual = x - x.mean(dim=(0, 2), keepdim=True)
    assert abs(residual.std().item() - 0.3) < 0.01  # what is left is the 0.3 noise
    clean = sample_process("NARMA", 5, 50, 6, seed=0, narma_shared_seed=True, noise_std=0.0)
    assert torch.equal(clean, clean[:1, :, :1].expand_as(clean))  # one series everywhere
    default = sample_process("NARMA", 5, 50, 6, seed=0, noise_std=0.0)
    gaps = (default - default[:1, :, :1]).abs().amax(dim=1).flatten()[1:]  # vs series (0, 0)
    assert gaps.min() > 0.01  # every other series differs


def test_gp_cholesky_survives_coinciding_times():
    from saliencylab.data.processes import _batched_cholesky

    t = torch.tensor([[0.0, 0.0, 1.0, 2.0], [0.0, 0.5, 1.0, 2.0]], dtype=torch.float64)
    cov = matern_kernel(t[:, :, None] - t[:, None, :])
    factor = _batched_cholesky(cov, 0.0)  # the first matrix is singular: jitter is added
    assert torch.isfinite(factor).all()
    torch.testing.assert_close(factor @ factor.transpose(1, 2), cov, atol=1e-6, rtol=0)
