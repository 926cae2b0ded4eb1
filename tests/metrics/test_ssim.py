"""Tests of the batched torch SSIM (saliencylab.metrics.ssim) against scikit-image and a loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.metrics.ssim import gaussian_window, ssim

torch.set_num_threads(2)


def pair(n: int, t: int, f: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, t, f, generator=g, dtype=torch.float64)
    b = 0.6 * a + 0.4 * torch.rand(n, t, f, generator=g, dtype=torch.float64)
    return a, b


def pair_range(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(max(a.max(), b.max()) - min(a.min(), b.min()))


def loop_ssim_1d(a: np.ndarray, b: np.ndarray, data_range: float, sample_cov: bool) -> float:
    """Plain per-position, per-channel Gaussian-weighted SSIM (Wang et al.), for (T, C) maps."""
    w = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    w /= w.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    norm = 11 / 10 if sample_cov else 1.0
    per_channel = []
    for c in range(a.shape[1]):
        vals = []
        for t in range(5, a.shape[0] - 5):
            wa, wb = a[t - 5:t + 6, c], b[t - 5:t + 6, c]
            ma, mb = (w * wa).sum(), (w * wb).sum()
            va = norm * ((w * wa * wa).sum() - ma * ma)
            vb = norm * ((w * wb * wb).sum() - mb * mb)
            cov = norm * ((w * wa * wb).sum() - ma * mb)
            vals.append((2 * ma * mb + c1) * (2 * cov + c2)
                        / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
        per_channel.append(np.mean(vals))
    return float(np.mean(per_channel))


@pytest.mark.parametrize("t,f", [(11, 1), (50, 1), (40, 3)])
@pytest.mark.parametrize("sample_cov", [False, True])
@pytest.mark.parametrize("fixed_range", [None, 2.0])
def test_equals_scikit_image_along_time(t, f, sample_cov, fixed_range):
    skm = pytest.importorskip("skimage.metrics")
    a, b = pair(4, t, f)
    ours = ssim(a, b, data_range=fixed_range, use_sample_covariance=sample_cov)
    ref = [
        skm.structural_similarity(
            a[i].numpy(), b[i].numpy(), gaussian_weights=True, sigma=1.5,
            use_sample_covariance=sample_cov, channel_axis=-1,
            data_range=fixed_range if fixed_range else pair_range(a[i], b[i]),
        )
        for i in range(a.shape[0])
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sample_cov", [False, True])
def test_equals_scikit_image_time_channel_plane(sample_cov):
    skm = pytest.importorskip("skimage.metrics")
    a, b = pair(3, 30, 12, seed=1)
    ours = ssim(a, b, axes="time_channel", use_sample_covariance=sample_cov)
    ref = [
        skm.structural_similarity(a[i].numpy(), b[i].numpy(), gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=sample_cov,
                                  data_range=pair_range(a[i], b[i]))
        for i in range(a.shape[0])
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sample_cov", [False, True])
def test_equals_plain_loop(sample_cov):
    a, b = pair(3, 25, 2, seed=2)
    ours = ssim(a, b, use_sample_covariance=sample_cov, data_range=1.0)
    ref = [loop_ssim_1d(a[i].numpy(), b[i].numpy(), 1.0, sample_cov) for i in range(3)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)


def test_gaussian_window_is_scipys_kernel():
    from scipy.ndimage import gaussian_filter1d

    delta = np.zeros(31)
    delta[15] = 1.0
    kernel = gaussian_filter1d(delta, sigma=1.5, truncate=3.5, mode="constant")[10:21]
    np.testing.assert_allclose(gaussian_window(1.5, 3.5).numpy(), kernel, atol=1e-15)
    assert gaussian_window(1.5, 3.5).numel() == 11
    assert gaussian_window(1.0, 3.0).numel() == 7


def test_identity_symmetry_and_range():
    a, b = pair(5, 30, 2, seed=3)
    assert torch.allclose(ssim(a, a), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(ssim(a, b), ssim(b, a))
    worse = ssim(a, torch.rand(5, 30, 2, dtype=torch.float64))
    assert bool((worse < ssim(a, b)).all())
    assert bool((ssim(a, 1 - a) < 0).all())  # anti-correlated maps
    const = torch.full((2, 20, 1), 0.3)
    assert ssim(const, const).tolist() == [1.0, 1.0]


def test_batch_does_not_mix_samples():
    a, b = pair(6, 30, 2, seed=4)
    whole = ssim(a, b)
    single = torch.cat([ssim(a[i:i + 1], b[i:i + 1]) for i in range(6)])
    assert torch.equal(whole, single)


def test_two_dim_input_is_one_channel():
    a, b = pair(2, 20, 1)
    assert torch.equal(ssim(a[..., 0], b[..., 0]), ssim(a, b))


def test_errors():
    a, b = pair(2, 20, 2)
    with pytest.raises(ShapeError, match="same shape"):
        ssim(a, b[:, :10])
    with pytest.raises(ShapeError, match="11-tap"):
        ssim(a[:, :10], b[:, :10])
    with pytest.raises(ShapeError, match="channels >= 11"):
        ssim(a, b, axes="time_channel")
    with pytest.raises(ConfigError, match="axes"):
        ssim(a, b, axes="space")
    with pytest.raises(ConfigError, match="data_range"):
        ssim(a, b, data_range=0.0)
    bad = a.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InvalidDataError):
        ssim(bad, b)
    with pytest.raises(ShapeError):
        ssim(torch.rand(20), torch.rand(20))


@pytest.mark.parametrize("sample_cov", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_images_equal_scikit_image_per_channel(sample_cov, channels):
    skm = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(6)
    a = torch.rand(3, channels, 13, 16, generator=g, dtype=torch.float64)
    b = 0.5 * a + 0.5 * torch.rand(3, channels, 13, 16, generator=g, dtype=torch.float64)
    ours = ssim(a, b, use_sample_covariance=sample_cov)
    ref = [
        skm.structural_similarity(
            a[i].permute(1, 2, 0).numpy(), b[i].permute(1, 2, 0).numpy(), gaussian_weights=True,
            sigma=1.5, use_sample_covariance=sample_cov, channel_axis=-1,
            data_range=pair_range(a[i], b[i]))
        for i in range(3)
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)
    with pytest.raises(ShapeError, match="height and width"):
        ssim(a[..., :10], b[..., :10])
    with pytest.raises(ShapeError, match="ragged"):
        ssim(a, b, valid=torch.ones(3, channels, dtype=torch.bool))
