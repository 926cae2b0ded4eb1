"""The Captum-backed methods (and a few batched ones of our own), each defined once: a
:class:`~saliencylab.explain.method.Method` with its metadata, reference defaults, checks
(``resolve``) and per-chunk runner (``run``); see :mod:`saliencylab.explain.method` for the
protocol.

``ctx.forward(x, *extra)`` returns the explained scalar of every row as ``(rows, 1)`` (the target
has selected it: :mod:`saliencylab.explain.selection`), so every runner calls Captum with
``target=0`` and passes ``extra`` as ``additional_forward_args``. Random draws are made per row
from generators seeded with ``(seed, row)``, so the result of a sampling method does not depend on
``batch_size``.

Reference settings:

- [TSB] Ismail et al., "Benchmarking Deep Learning Interpretability in Time Series Predictions",
  NeurIPS 2020, §2.1 (the methods, all run through Captum; the settings are those of the authors'
  released code): one U[0,1) baseline for IG and DeepLIFT, GradientSHAP and DeepLIFT-SHAP with
  5·batch U[0,1) baselines and stdev 0.09, SmoothGrad with NoiseTunnel's defaults (5 samples,
  stdev 1.0), Shapley Value Sampling and Feature Permutation with one feature group per time
  step, Feature Ablation per element, Occlusion with a window of one whole time step ("continuous
  regions as features within the same time step", §2.1).
- [OBJ] Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
  Series", §4.1 and Appendix B.2: IG with a zero baseline and 60 steps, SmoothGrad with 60
  samples and sigma 0.2, Guided Backprop.
- [CS] Gupta et al., NeurIPS 2022, Appendix D: Gradient ⊙ Input as a baseline saliency method.

Ragged series (``explain(..., valid=)``): no method moves a padded step. Baselines equal the
input there (IG, DeepLIFT, DeepLIFT-SHAP, GradientSHAP and every perturbation method), noise is
zero there (SmoothGrad, GradientSHAP), feature groups put a sample's padded cells into the group
of its first valid step and Feature Permutation leaves padded cells in place, so a group made
only of padded steps is never evaluated separately where Captum allows per-sample groups (Feature
Ablation, Shapley Value Sampling, Feature Permutation). Every map is zero on padded steps, and
IG / DeepLIFT stay complete: the valid cells sum to ``f(x) - f(baseline)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.explain.deeplift import RULES as DEEPLIFT_RULES
from saliencylab.explain.deeplift import deeplift
from saliencylab.explain.method import Context, Method, boolean, one_of, positive_int
from saliencylab.utils import chunks, make_generator, memory_budget, rows_per_chunk

__all__ = [
    "CAPTUM_METHODS",
    "Context",
    "baseline_distribution",
    "default_feature_mask",
    "draw_rows",
    "feature_mask_param",
    "perturbation_baseline",
    "resolve_perturbations_per_eval",
    "row_generators",
    "scalar_gradient",
    "seeded_global_rng",
    "segment_index",
]


# ------------------------------------------------------------------------------------------------
# Randomness: one generator per (seed, row, purpose), so chunking cannot change a draw.


def _mix(seed: int, row: int, salt: int) -> int:
    # A cheap integer hash (splitmix-style constants) of (seed, row, salt) into 63 bits.
    h = (int(seed) * 0x9E3779B97F4A7C15 + int(row) * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB)
    h ^= h >> 31
    return h % (2**63 - 1)


def row_generators(seed: int, rows: Tensor, salt: int) -> Iterator[torch.Generator]:
    """One CPU generator per row, seeded from ``(seed, row, salt)``."""
    for r in rows.tolist():
        yield make_generator(_mix(seed, r, salt))


def draw_rows(
    seed: int, rows: Tensor, shape: tuple[int, ...], salt: int, kind: str = "uniform",
    device: torch.device | str = "cpu",
) -> Tensor:
    """``(len(rows), *shape)`` U[0,1) or N(0,1) draws, each row from its own generator.

    Drawn on the CPU and moved, so the numbers are the same on every device.
    """
    draw = torch.rand if kind == "uniform" else torch.randn
    out = [draw(shape, generator=g) for g in row_generators(seed, rows, salt)]
    return torch.stack(out).to(device)


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (for Captum classes that use it) and restore it afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# Salts that keep the random streams of different purposes apart.
SALT_BASELINE, SALT_DISTRIBUTION, SALT_NOISE, SALT_LIME, SALT_PERM, SALT_SHAPLEY = range(1, 7)
SALT_KERNEL_SHAP = SALT_LIME + 100


# ------------------------------------------------------------------------------------------------
# Baselines and feature groups

_BASELINE_FORMS = "'zero', 'uniform', a number or a tensor"


def resolve_baseline(ctx: Context, spec: Any, x: Tensor, rows: Tensor) -> Tensor:
    """The baseline for chunk ``x``: "zero", "uniform" (U[0,1) per row from the seed, [TSB]),
    a number, or a tensor of one sample's shape, ``(1, *sample)`` or ``(n_total, *sample)``."""
    sample = tuple(x.shape[1:])
    if isinstance(spec, str):
        if spec == "zero":
            return torch.zeros_like(x)
        if spec == "uniform":
            return draw_rows(ctx.seed, ctx.draw_keys(rows), sample, SALT_BASELINE,
                             device=x.device).to(x.dtype)
        raise ConfigError(f"baseline must be {_BASELINE_FORMS}, got {spec!r}")
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return torch.full_like(x, float(spec))
    if isinstance(spec, Tensor):
        b = spec.to(device=x.device, dtype=x.dtype)
        if tuple(b.shape) == sample:
            return b.unsqueeze(0).expand_as(x)
        if b.dim() == x.dim() and b.shape[0] == 1 and tuple(b.shape[1:]) == sample:
            return b.expand_as(x)
        if b.dim() == x.dim() and b.shape[0] == ctx.n_total and tuple(b.shape[1:]) == sample:
            return b[rows.to(b.device)]
        raise ShapeError(
            f"baseline tensor must have shape {sample}, (1, *{sample}) or "
            f"({ctx.n_total}, *{sample}), got {tuple(b.shape)}"
        )
    raise ConfigError(f"baseline must be {_BASELINE_FORMS}, got {spec!r}")


def check_baseline(ctx: Context, x: Tensor) -> None:
    """Fail before any work on a baseline that :func:`resolve_baseline` would refuse."""
    resolve_baseline(ctx, ctx.params["baseline"], x[:1], torch.zeros(1, dtype=torch.long))


def perturbation_baseline(ctx: Context, x: Tensor, rows: Tensor) -> Tensor:
    """The baseline of chunk ``x`` (:func:`resolve_baseline`), equal to the input on padded
    steps, so that moving a cell towards its baseline never changes a padded step."""
    base = resolve_baseline(ctx, ctx.params["baseline"], x, rows)
    cells = ctx.valid_cells(rows, x)
    return base if cells is None else torch.where(cells, base, x)


def resolve_distribution(ctx: Context, x: Tensor) -> dict[str, Any]:
    """``n_baselines`` (default 5·batch, [TSB]) and the distribution, drawn once per call."""
    positive_int(ctx.params, "n_baselines", allow_none=True)  # 0 is no default: refused
    n = ctx.params.get("n_baselines")
    n = 5 * ctx.n_total if n is None else n
    ctx.state["distribution"] = baseline_distribution(ctx, x, n)
    return {"n_baselines": n}


def baseline_distribution(ctx: Context, x: Tensor, n: int) -> Tensor:
    """``(n, *sample)`` baselines; [TSB]: U[0,1) draws (or the user's distribution tensor)."""
    spec = ctx.params.get("baseline", "uniform")
    sample = tuple(x.shape[1:])
    if isinstance(spec, Tensor) and spec.dim() == x.dim():  # a user-given distribution
        return spec.to(device=x.device, dtype=x.dtype)
    if spec == "uniform":
        gen = make_generator(_mix(ctx.seed, 0, SALT_DISTRIBUTION))
        return torch.rand((n, *sample), generator=gen).to(device=x.device, dtype=x.dtype)
    one = resolve_baseline(ctx, spec, x[:1], torch.zeros(1, dtype=torch.long))
    return one.expand(n, *sample).contiguous()


def segment_index(length: int, n_segments: int | None) -> Tensor:
    """Segment id of each position: ``n_segments`` contiguous equal runs (None = one each)."""
    n = length if n_segments is None else max(1, min(int(n_segments), length))
    return torch.div(torch.arange(length) * n, length, rounding_mode="floor")


def default_feature_mask(ctx: Context, x: Tensor, n_segments: int | None = None) -> Tensor:
    """Feature groups for the group-based methods, shape ``(1, *sample)``.

    Time series and text: contiguous segments of time steps / tokens covering every feature or
    embedding dim (``n_segments=None``: one group per step, [TSB]). Images: a grid of square
    patches over all channels, about ``n_segments`` (default 64) of them.
    """
    if ctx.modality == "image":
        _, c, h, w = x.shape
        patch = max(1, round(math.sqrt(h * w / (n_segments or 64))))
        cols = -(-w // patch)
        grid = (torch.arange(h)[:, None] // patch) * cols + torch.arange(w)[None, :] // patch
        return grid.expand(c, h, w).unsqueeze(0).contiguous().to(x.device)
    t, f = x.shape[1], x.shape[2]
    segments = segment_index(t, n_segments)[:, None].expand(t, f)
    return segments.unsqueeze(0).contiguous().to(x.device)


def merge_padded(mask: Tensor, cells: Tensor) -> Tensor:
    """Per-sample groups ``(chunk, T, F)`` where each sample's padded cells join the group of
    the same feature at its first valid step (``cells``: ``(chunk, T, 1)`` valid steps)."""
    n, t = cells.shape[:2]
    full = mask.expand(n, t, mask.shape[-1] if mask.shape[-1] > 1 else 1)
    first = cells[..., 0].to(torch.uint8).argmax(1)  # the first valid step of every row
    ref = full[torch.arange(n, device=full.device), first]  # (chunk, F)
    return torch.where(cells, full, ref[:, None, :]).contiguous()


def feature_mask_param(
    ctx: Context, x: Tensor, n_segments: int | None = None, rows: Tensor | None = None
) -> Tensor:
    """The user's ``feature_mask`` param (broadcast check) or the default groups; with
    ``rows`` of a ragged batch, per-sample groups from :func:`merge_padded`."""
    given = ctx.params.get("feature_mask")
    mask = default_feature_mask(ctx, x, n_segments) if given is None else check_feature_mask(
        given, x)
    cells = ctx.valid_cells(rows, x) if rows is not None else None
    return mask if cells is None else merge_padded(mask, cells)


def check_feature_mask(mask: Any, x: Tensor) -> Tensor:
    """``mask`` as a ``(1, *sample)``-broadcastable LongTensor on ``x``'s device."""
    if not isinstance(mask, Tensor):
        raise ConfigError(f"feature_mask must be a LongTensor, got {type(mask).__name__}")
    mask = mask.to(device=x.device, dtype=torch.long).contiguous()
    if mask.dim() == x.dim() - 1:
        mask = mask.unsqueeze(0)
    if mask.dim() != x.dim() or mask.shape[0] != 1 or any(
        m not in (1, s) for m, s in zip(mask.shape[1:], x.shape[1:], strict=True)
    ):
        raise ShapeError(f"feature_mask must broadcast to one sample {tuple(x.shape[1:])}, "
                         f"got {tuple(mask.shape)}")
    return mask


def resolve_perturbations_per_eval(ctx: Context) -> dict[str, Any]:
    """``perturbations_per_eval``: the caller's, or a value keeping a forward pass near 256
    rows for the chunk size of the call."""
    ppe = ctx.params.get("perturbations_per_eval")
    if ppe is None:
        # The chunk at one perturbation per eval, then as many perturbations as keep a forward
        # pass near 256 rows and within the memory budget.
        sample = max(1, ctx.sample_numel)
        chunk = min(rows_per_chunk(sample, batch_size=ctx.batch_size, budget=ctx.budget),
                    ctx.n_total)
        ppe = max(1, min(256 // max(chunk, 1),
                         memory_budget(ctx.budget) // (max(chunk, 1) * sample)))
    if isinstance(ppe, bool) or not isinstance(ppe, int) or ppe < 1:
        raise ConfigError(f"perturbations_per_eval must be an int >= 1 or None, got {ppe!r}")
    return {"perturbations_per_eval": ppe}


def scalar_gradient(forward: nn.Module, x: Tensor, extra: tuple) -> Tensor:
    """∂ forward(x, *extra) / ∂x for the ``(rows, 1)`` explained scalars, without touching
    parameter gradients."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(forward(x, *extra).sum(), x)
    return grad


def _repeat_extra(extra: tuple, n: int) -> tuple:
    return tuple(e.repeat_interleave(n, dim=0) for e in extra)


# ------------------------------------------------------------------------------------------------
# Gradient family


def _resolve_gradient(ctx, x):
    boolean(ctx.params, "abs")


def _gradient(ctx, x, target, extra, rows):
    # Captum Saliency's result from one autograd.grad of the explained outputs' sum (rows are
    # independent, so the sum's gradient is every row's own), without its per-row grad seeds.
    # The gradient of a model that transposes its input comes back transposed: one contiguous
    # copy (the layout explain returns), then abs in place, instead of abs and another copy.
    grad = scalar_gradient(ctx.forward, x, extra).contiguous()
    return grad.abs_() if ctx.params["abs"] else grad


def _gradient_x_input(ctx, x, target, extra, rows):
    # Captum InputXGradient's result, the gradient from one autograd.grad as in _gradient.
    return x * scalar_gradient(ctx.forward, x, extra)  # x first: the product takes its layout


def _per_row(params, sample_numel):
    """Elements one input row creates in a method without internal expansion."""
    return sample_numel


def _expanded_by(name: str):
    """``row_elements`` of a method that makes ``params[name]`` copies of each row."""

    def row_elements(params, sample_numel):
        return max(1, int(params.get(name) or 1)) * sample_numel

    return row_elements


def _deeplift_elements(params, sample_numel):
    # the input row and its baseline row run as one batch
    return 2 * sample_numel


def _deeplift_shap_elements(params, sample_numel):
    # every row is paired with a block of baselines_per_eval (default: all n_baselines), each
    # pair two model rows
    per_eval = params.get("baselines_per_eval") or params.get("n_baselines") or 1
    return 2 * int(per_eval) * sample_numel


_IG_RULES = ("riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid",
             "gausslegendre")


def _resolve_integrated_gradients(ctx, x):
    check_baseline(ctx, x)
    positive_int(ctx.params, "n_steps")
    positive_int(ctx.params, "internal_batch_size", allow_none=True)
    if ctx.params["rule"] not in _IG_RULES:
        raise ConfigError(f"rule (the integral's quadrature) must be one of "
                          f"{', '.join(_IG_RULES)}, got {ctx.params['rule']!r}")


def _integrated_gradients(ctx, x, target, extra, rows):
    from captum.attr import IntegratedGradients

    p = ctx.params
    return IntegratedGradients(ctx.forward).attribute(
        x, baselines=perturbation_baseline(ctx, x, rows), target=0,
        additional_forward_args=extra, n_steps=int(p["n_steps"]),
        method=p["rule"], internal_batch_size=p["internal_batch_size"],
    )


def _resolve_deeplift(ctx, x):
    one_of(ctx.params, "rules", tuple(DEEPLIFT_RULES))
    check_baseline(ctx, x)


def _deeplift(ctx, x, target, extra, rows):
    return deeplift(ctx.forward, ctx.modules(), x, perturbation_baseline(ctx, x, rows), extra,
                    rules=ctx.params["rules"])


def _resolve_deeplift_shap(ctx, x):
    one_of(ctx.params, "rules", tuple(DEEPLIFT_RULES))
    positive_int(ctx.params, "baselines_per_eval", allow_none=True)
    return resolve_distribution(ctx, x)


def _deeplift_shap(ctx, x, target, extra, rows):
    # Captum DeepLiftShap's computation: DeepLIFT of every input-baseline pair, averaged over the
    # baselines; blocks of baselines bound the memory and their weighted mean equals the mean
    # over all of them. Each pair's baseline equals its input on the padded steps.
    dist: Tensor = ctx.state["distribution"]
    n = dist.shape[0]
    per_eval = ctx.params.get("baselines_per_eval") or n
    cells = ctx.valid_cells(rows, x)
    total = torch.zeros_like(x)
    for block in chunks(n, int(per_eval)):
        b = dist[block]
        k = b.shape[0]
        inputs = x.repeat_interleave(k, dim=0)
        base = b.repeat(x.shape[0], *([1] * (x.dim() - 1)))
        if cells is not None:
            base = torch.where(cells.repeat_interleave(k, dim=0), base, inputs)
        attr = deeplift(ctx.forward, ctx.modules(), inputs, base, _repeat_extra(extra, k),
                        rules=ctx.params["rules"])
        total += attr.view(x.shape[0], k, *x.shape[1:]).sum(1)
    return total / n


def _resolve_gradient_shap(ctx, x):
    positive_int(ctx.params, "n_samples")
    _check_stdev(ctx.params["stdevs"])
    return resolve_distribution(ctx, x)


def _check_stdev(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value < math.inf):
        raise ConfigError(f"stdevs must be a finite number >= 0 (the noise's standard "
                          f"deviation), got {value!r}")


def _gradient_shap(ctx, x, target, extra, rows):
    # Captum's GradientShap semantics (NoiseTunnel over InputBaselineXGradient), with all draws
    # made per row from the seed so that batch_size does not change the result.
    p = ctx.params
    dist: Tensor = ctx.state["distribution"]
    n, stdev = int(p["n_samples"]), float(p["stdevs"])
    sample = tuple(x.shape[1:])
    idx, alpha, noise = [], [], []
    for g in row_generators(ctx.seed, ctx.draw_keys(rows), SALT_NOISE):
        idx.append(torch.randint(dist.shape[0], (n,), generator=g))
        alpha.append(torch.rand(n, generator=g))
        noise.append(torch.randn((n, *sample), generator=g))
    idx_t = torch.stack(idx).to(x.device)  # (b, n)
    alpha_t = torch.stack(alpha).to(x.device, x.dtype).view(-1, n, *([1] * len(sample)))
    noise_t = torch.stack(noise).to(x.device, x.dtype)
    base = dist[idx_t]  # (b, n, *sample)
    cells = ctx.valid_cells(rows, x)
    if cells is not None:  # padded steps: no noise, the baseline is the input
        noise_t = noise_t * cells[:, None].to(x.dtype)
        base = torch.where(cells[:, None], base, x.unsqueeze(1))
    noisy = x.unsqueeze(1) + stdev * noise_t  # (b, n, *sample)
    points = base + alpha_t * (noisy - base)
    grads = scalar_gradient(
        ctx.forward, points.reshape(-1, *sample), _repeat_extra(extra, n),
    ).view_as(points)
    return (grads * (noisy - base)).mean(dim=1)


_NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _resolve_smoothgrad(ctx, x):
    positive_int(ctx.params, "n_samples")
    _check_stdev(ctx.params["stdevs"])
    boolean(ctx.params, "abs")
    one_of(ctx.params, "nt_type", _NT_TYPES)


def _smoothgrad(ctx, x, target, extra, rows):
    # Captum NoiseTunnel(Saliency) semantics; the noise is drawn per row from the seed.
    p = ctx.params
    n, stdev, kind = int(p["n_samples"]), float(p["stdevs"]), p["nt_type"]
    sample = tuple(x.shape[1:])
    noise = draw_rows(ctx.seed, ctx.draw_keys(rows), (n, *sample), SALT_NOISE, "normal",
                      x.device).to(x.dtype)
    cells = ctx.valid_cells(rows, x)
    if cells is not None:  # padded steps: no noise
        noise = noise * cells[:, None].to(x.dtype)
    noisy = x.unsqueeze(1) + stdev * noise
    grads = scalar_gradient(
        ctx.forward, noisy.reshape(-1, *sample), _repeat_extra(extra, n),
    ).view_as(noisy)
    if p["abs"]:
        grads = grads.abs()
    if kind == "smoothgrad":
        return grads.mean(dim=1)
    if kind == "smoothgrad_sq":
        return (grads**2).mean(dim=1)
    return grads.var(dim=1, unbiased=False)


def _positive_gradients_only(module: nn.Module, inputs: tuple, output: Tensor) -> None:
    # The ReLU's own backward then multiplies by (input > 0): relu(grad_out) * (x > 0) is
    # relu(grad_out * (x > 0)), the rule of Captum's GuidedBackprop on the ReLU's grad_input.
    if isinstance(output, Tensor) and output.requires_grad:
        output.register_hook(lambda g: g.clamp_min(0))


def guided_backprop(ctx: Context, x: Tensor, extra: tuple) -> Tensor:
    """Guided Backprop of the explained scalars (also the guided part of Guided GradCAM): the
    input gradient in which every ``nn.ReLU`` passes back only positive gradients
    (Springenberg et al., 2015; [OBJ] §4.1), from one ``autograd.grad`` without Captum's module
    backward hooks and per-row seeds. Equal to Captum's ``GuidedBackprop`` (asserted in the
    tests); like it, a functional ``relu`` call is not guided."""
    handles = [m.register_forward_hook(_positive_gradients_only)
               for _, m in ctx.modules()
               if isinstance(m, nn.ReLU)]
    try:
        return scalar_gradient(ctx.forward, x, extra)
    finally:
        for handle in handles:
            handle.remove()


def _guided_backprop(ctx, x, target, extra, rows):
    return guided_backprop(ctx, x, extra)


# ------------------------------------------------------------------------------------------------
# Perturbation family


def _resolve_perturbation(ctx, x):
    if "baseline" in ctx.params:
        check_baseline(ctx, x)
    if ctx.params.get("feature_mask") is not None:
        check_feature_mask(ctx.params["feature_mask"], x)
    if "n_samples" in ctx.params:
        positive_int(ctx.params, "n_samples")
    return resolve_perturbations_per_eval(ctx)


def _occlusion_windows(ctx: Context, x: Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    p = ctx.params
    if ctx.modality == "image":  # 4x4 patches, stride 2 (smaller on images under 4 pixels)
        c, h, w = x.shape[1:]
        window, stride = (c, min(4, h), min(4, w)), (c, min(2, h), min(2, w))
    else:  # one whole time step (token): [TSB]
        f = x.shape[2]
        window, stride = (1, f), (1, f)
    window = _int_tuple(p["sliding_window_shapes"], "sliding_window_shapes") or window
    stride = _int_tuple(p["strides"], "strides") or stride
    if len(window) != x.dim() - 1 or len(stride) != x.dim() - 1:
        raise ShapeError(f"sliding_window_shapes and strides need {x.dim() - 1} entries (one per "
                         f"non-batch dim), got {window} and {stride}")
    sample = tuple(x.shape[1:])
    for i, (w, st, size) in enumerate(zip(window, stride, sample, strict=True)):
        if not 1 <= w <= size:
            raise ConfigError(f"sliding_window_shapes[{i}] must be an int in [1, {size}] (the "
                              f"input's size on that dim), got {w}")
        if not 1 <= st <= w:
            raise ConfigError(f"strides[{i}] must be an int in [1, {w}] (at most the window, so "
                              f"every cell is occluded), got {st}")
    return window, stride


def _int_tuple(value: Any, name: str) -> tuple[int, ...] | None:
    """A window / stride spec as a tuple of ints, or None when not given."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, list | tuple) or not value or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ConfigError(f"{name} must be a list of ints (one per non-batch dim) or None, got "
                          f"{value!r}")
    return tuple(value)


def _resolve_occlusion(ctx, x):
    window, stride = _occlusion_windows(ctx, x)
    return {**_resolve_perturbation(ctx, x), "sliding_window_shapes": list(window),
            "strides": list(stride)}


def _occlusion(ctx, x, target, extra, rows):
    from captum.attr import Occlusion

    p = ctx.params
    return Occlusion(ctx.forward).attribute(
        x, sliding_window_shapes=tuple(p["sliding_window_shapes"]), strides=tuple(p["strides"]),
        baselines=perturbation_baseline(ctx, x, rows), target=0,
        additional_forward_args=extra, perturbations_per_eval=p["perturbations_per_eval"],
    )


def _feature_ablation(ctx, x, target, extra, rows):
    from captum.attr import FeatureAblation

    mask = ctx.params.get("feature_mask")
    cells = ctx.valid_cells(rows, x)
    if mask is not None:
        mask = feature_mask_param(ctx, x, rows=rows)
    elif ctx.modality == "text":  # one group per token: per embedding dim would mean little
        mask = default_feature_mask(ctx, x)
    elif cells is not None:  # one group per element, padded cells merged (skipped)
        mask = merge_padded(torch.arange(x[0].numel(), device=x.device).view(1, *x.shape[1:]),
                            cells)
    return FeatureAblation(ctx.forward).attribute(
        x, baselines=perturbation_baseline(ctx, x, rows), target=0,
        additional_forward_args=extra, feature_mask=mask,
        perturbations_per_eval=ctx.params["perturbations_per_eval"],
    )


def _feature_permutation(ctx, x, target, extra, rows):
    from captum.attr import FeaturePermutation
    from captum.attr._core.feature_permutation import _permute_feature

    if x.shape[0] < 2:
        raise ShapeError(
            "feature_permutation shuffles a feature group across the batch, so every chunk needs "
            f"at least 2 samples; got a chunk of {x.shape[0]} (raise batch_size or the batch)"
        )
    cells = ctx.valid_cells(rows, x)
    if cells is None:
        perm_func = _permute_feature
    else:  # padded cells stay in place

        def perm_func(chunk: Tensor, group: Tensor) -> Tensor:
            return _permute_feature(chunk, group & cells)

    with seeded_global_rng(_mix(ctx.seed, int(ctx.draw_keys(rows)[0]), SALT_PERM), x.device):
        return FeaturePermutation(ctx.forward, perm_func=perm_func).attribute(
            x, target=0, additional_forward_args=extra,
            feature_mask=feature_mask_param(ctx, x, rows=rows),
            perturbations_per_eval=ctx.params["perturbations_per_eval"],
        )


def _shapley(ctx, x, target, extra, rows):
    from captum.attr import ShapleyValueSampling

    # Captum draws one set of permutations for the whole batch; seeding every chunk the same way
    # gives every sample the permutations it would get unchunked.
    with seeded_global_rng(_mix(ctx.seed, 0, SALT_SHAPLEY), x.device):
        return ShapleyValueSampling(ctx.forward).attribute(
            x, baselines=perturbation_baseline(ctx, x, rows), target=0,
            additional_forward_args=extra, feature_mask=feature_mask_param(ctx, x, rows=rows),
            n_samples=int(ctx.params["n_samples"]),
            perturbations_per_eval=ctx.params["perturbations_per_eval"],
        )


# ------------------------------------------------------------------------------------------------
# The definitions

CAPTUM_METHODS: tuple[Method, ...] = (
    Method(
        "gradient", "gradient",
        "Gradient of the explained output w.r.t. the input (Captum Saliency); absolute value "
        "by default as in [TSB] §2.1",
        defaults={"abs": True}, references=("TSB", "OBJ"), run=_gradient,
        resolve=_resolve_gradient, row_elements=_per_row,
    ),
    Method(
        "gradient_x_input", "gradient",
        "Gradient times input (Captum InputXGradient) [CS] Appendix D",
        references=("CS",), run=_gradient_x_input, row_elements=_per_row,
    ),
    Method(
        "integrated_gradients", "gradient",
        "Integrated Gradients from one baseline (Captum); [TSB] §2.1 (released code) one U[0,1) "
        "baseline, "
        "[OBJ] Appendix B.2 zero baseline with 60 steps",
        needs=("baseline",),
        defaults={"baseline": "uniform", "n_steps": 50, "rule": "gausslegendre",
                  "internal_batch_size": None},
        sampling=True, references=("TSB", "OBJ"),
        run=_integrated_gradients, resolve=_resolve_integrated_gradients,
        row_elements=_expanded_by("n_steps"),
    ),
    Method(
        "deeplift", "gradient",
        "DeepLIFT rescale rule (Captum DeepLift's rules, one autograd pass) from one U[0,1) "
        "baseline [TSB] §2.1 (released code)",
        needs=("baseline",), defaults={"baseline": "uniform", "rules": "deeplift"},
        sampling=True, references=("TSB",),
        run=_deeplift, resolve=_resolve_deeplift,
        row_elements=_deeplift_elements,
    ),
    Method(
        "deeplift_shap", "gradient",
        "DeepLIFT averaged over a baseline distribution (Captum DeepLiftShap's mean); [TSB] §2.1 "
        "(released code) the GradientSHAP baselines: 5·batch U[0,1) draws",
        needs=("baseline",),
        defaults={"baseline": "uniform", "n_baselines": None, "baselines_per_eval": None,
                  "rules": "deeplift"},
        sampling=True, references=("TSB",),
        run=_deeplift_shap, resolve=_resolve_deeplift_shap,
        row_elements=_deeplift_shap_elements,
    ),
    Method(
        "gradient_shap", "gradient",
        "GradientSHAP: expected (x+noise-b)·∇f at random points between baseline b and the "
        "noisy input (Captum GradientShap semantics); [TSB] §2.1 (released code) 5·batch U[0,1) "
        "baselines, stdev 0.09, 5 samples",
        needs=("baseline",),
        defaults={"baseline": "uniform", "n_baselines": None, "n_samples": 5, "stdevs": 0.09},
        sampling=True, references=("TSB",),
        run=_gradient_shap, resolve=_resolve_gradient_shap,
        row_elements=_expanded_by("n_samples"),
    ),
    Method(
        "smoothgrad", "gradient",
        "SmoothGrad: mean |gradient| over Gaussian-noised copies (Captum NoiseTunnel over "
        "Saliency); [TSB] §2.1 (released code) NoiseTunnel defaults 5 samples, stdev 1.0 "
        "(large for [0,1] data); [OBJ] Appendix B.2 60 samples, stdev 0.2",
        defaults={"n_samples": 5, "stdevs": 1.0, "abs": True, "nt_type": "smoothgrad"},
        sampling=True, references=("TSB", "OBJ"),
        run=_smoothgrad, resolve=_resolve_smoothgrad, row_elements=_expanded_by("n_samples"),
    ),
    Method(
        "guided_backprop", "gradient",
        "Guided Backpropagation (only positive gradients back through nn.ReLU modules; equals "
        "Captum GuidedBackprop) [OBJ] §4.1",
        references=("OBJ",), run=_guided_backprop, row_elements=_per_row,
    ),
)

PERTURBATION_METHODS: tuple[Method, ...] = (
    Method(
        "occlusion", "perturbation",
        "Occlusion (Captum) with a window of one whole time step [TSB] §2.1; images: 4x4 "
        "patches, stride 2; text: one token",
        defaults={"sliding_window_shapes": None, "strides": None, "baseline": "zero",
                  "perturbations_per_eval": None},
        references=("TSB",), run=_occlusion, resolve=_resolve_occlusion,
        row_elements=_expanded_by("perturbations_per_eval"),
    ),
    Method(
        "feature_ablation", "perturbation",
        "Feature Ablation (Captum), one element at a time [TSB] §2.1",
        defaults={"baseline": "zero", "perturbations_per_eval": None},
        options=("feature_mask",), references=("TSB",),
        run=_feature_ablation, resolve=_resolve_perturbation,
        row_elements=_expanded_by("perturbations_per_eval"),
    ),
    Method(
        "feature_permutation", "perturbation",
        "Feature Permutation (Captum): shuffle one time step across the batch [TSB] §2.1; "
        "needs at least 2 samples per batch and depends on the batch by definition",
        # no row_elements: splitting the batch would change the shuffles (its memory per
        # forward pass is bounded through perturbations_per_eval instead)
        needs=("feature_groups",), defaults={"perturbations_per_eval": None},
        options=("feature_mask",), sampling=True, references=("TSB",),
        run=_feature_permutation, resolve=_resolve_perturbation,
    ),
    Method(
        "shapley_value_sampling", "perturbation",
        "Shapley Value Sampling (Captum), one feature group per time step [TSB] §2.1",
        needs=("feature_groups",),
        defaults={"n_samples": 25, "baseline": "zero", "perturbations_per_eval": None},
        options=("feature_mask",), sampling=True, references=("TSB",),
        run=_shapley, resolve=_resolve_perturbation,
        row_elements=_expanded_by("perturbations_per_eval"),
    ),
)
