"""Adapters from our uniform call to Captum's attribution classes (and a few of our own).

Every adapter has the signature ``run(ctx, x, target, extra, rows) -> Tensor`` and handles one
chunk of the inputs: ``x`` is the chunk in *attribution space* (the inputs themselves, or the
token embeddings for text), ``target`` a ``(chunk,)`` class index tensor, ``extra`` the
additional forward arguments (the token ids for text) and ``rows`` the chunk's row indices in the
whole call. Random draws are made per row from generators seeded with ``(seed, row)``, so the
result of a sampling method does not depend on ``batch_size``. An optional ``prepare(ctx, x)``
runs once per call (e.g. to draw GradientSHAP's baseline distribution for the whole batch).

The settings follow SPEC.md section 3 ([TSB] Ismail et al., NeurIPS 2020; [OBJ] Löffler et al.;
[CS] Gupta et al., NeurIPS 2022); see :mod:`saliencylab.explain.registry` for the defaults.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.utils import chunks, make_generator

RunFn = Callable[["Context", Tensor, Tensor, tuple, Tensor], Tensor]
PrepareFn = Callable[["Context", Tensor], None]


@dataclass
class Context:
    """Everything an adapter needs besides the chunk itself.

    ``forward`` is the module Captum differentiates: the user's model, or for text a wrapper
    that takes embeddings (and the token ids as an extra argument). ``model`` is always the
    user's model (where layers are looked up). ``n_total`` is the batch size of the whole call.
    """

    forward: nn.Module
    model: nn.Module
    modality: str
    params: dict[str, Any]
    seed: int
    n_total: int
    batch_size: int | None
    state: dict[str, Any] = field(default_factory=dict)
    embedding_layer: nn.Module | None = None


@dataclass(frozen=True)
class Adapter:
    """A method's per-chunk ``run`` and optional once-per-call ``prepare``."""

    run: RunFn
    prepare: PrepareFn | None = None


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


def resolve_baseline(ctx: Context, spec: Any, x: Tensor, rows: Tensor) -> Tensor:
    """The baseline for chunk ``x``: "zero", "uniform" (U[0,1) per row from the seed, [TSB]),
    a number, or a tensor of one sample's shape, ``(1, *sample)`` or ``(n_total, *sample)``."""
    sample = tuple(x.shape[1:])
    if isinstance(spec, str):
        if spec == "zero":
            return torch.zeros_like(x)
        if spec == "uniform":
            return draw_rows(ctx.seed, rows, sample, SALT_BASELINE, device=x.device).to(x.dtype)
        raise ConfigError(f"baseline must be 'zero', 'uniform', a number or a tensor, got {spec!r}")
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
    raise ConfigError(f"baseline must be 'zero', 'uniform', a number or a tensor, got {spec!r}")


def baseline_distribution(ctx: Context, x: Tensor) -> Tensor:
    """``(n_baselines, *sample)`` baselines drawn once per call; [TSB]: 5·batch U[0,1) draws."""
    spec = ctx.params.get("baseline", "uniform")
    n = ctx.params.get("n_baselines") or 5 * ctx.n_total
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n_baselines must be a positive int, got {n!r}")
    ctx.params["n_baselines"] = n
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


def feature_mask_param(ctx: Context, x: Tensor, n_segments: int | None = None) -> Tensor:
    """The user's ``feature_mask`` param (broadcast check) or the default groups."""
    mask = ctx.params.get("feature_mask")
    if mask is None:
        return default_feature_mask(ctx, x, n_segments)
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


def extra_args(extra: tuple) -> tuple | None:
    return extra if extra else None


def perturbations_per_eval(ctx: Context) -> int:
    """``perturbations_per_eval`` param, or a value keeping a forward pass near 256 rows."""
    ppe = ctx.params.get("perturbations_per_eval")
    if ppe is None:
        chunk = min(ctx.batch_size or ctx.n_total, ctx.n_total)
        ppe = max(1, 256 // max(chunk, 1))
        ctx.params["perturbations_per_eval"] = ppe
    if not isinstance(ppe, int) or ppe < 1:
        raise ConfigError(f"perturbations_per_eval must be a positive int, got {ppe!r}")
    return ppe


def input_gradient(forward: nn.Module, x: Tensor, target: Tensor, extra: tuple) -> Tensor:
    """∂ logit[target] / ∂x for a batch, without touching parameter gradients."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = forward(x, *extra)
        selected = out.gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(selected, x)
    return grad


def _repeat_extra(extra: tuple, n: int) -> tuple:
    return tuple(e.repeat_interleave(n, dim=0) for e in extra)


# ------------------------------------------------------------------------------------------------
# Gradient family


def _gradient(ctx, x, target, extra, rows):
    from captum.attr import Saliency

    return Saliency(ctx.forward).attribute(
        x, target=target, abs=bool(ctx.params["abs"]), additional_forward_args=extra_args(extra)
    )


def _gradient_x_input(ctx, x, target, extra, rows):
    from captum.attr import InputXGradient

    return InputXGradient(ctx.forward).attribute(
        x, target=target, additional_forward_args=extra_args(extra)
    )


def _integrated_gradients(ctx, x, target, extra, rows):
    from captum.attr import IntegratedGradients

    p = ctx.params
    return IntegratedGradients(ctx.forward).attribute(
        x, baselines=resolve_baseline(ctx, p["baseline"], x, rows), target=target,
        additional_forward_args=extra_args(extra), n_steps=int(p["n_steps"]),
        method=p["method"], internal_batch_size=p["internal_batch_size"],
    )


_DEEPLIFT_REUSE = "used more than once"


@contextlib.contextmanager
def _deeplift_errors(model: nn.Module) -> Iterator[None]:
    # Captum's DeepLift cannot handle a module object called twice in one forward pass. Its
    # notice that it sets hooks on the nonlinearities (and removes them) is no news to a user.
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*hooks and attributes.*")
            yield
    except (RuntimeError, AssertionError) as exc:
        if _DEEPLIFT_REUSE in str(exc):
            raise NotApplicableError(
                f"DeepLIFT cannot run on {type(model).__name__}: a nonlinearity module is used "
                "more than once in its forward pass (Captum needs one module per use). "
                "Gradient methods and perturbation methods still apply."
            ) from exc
        raise


def _deeplift(ctx, x, target, extra, rows):
    from captum.attr import DeepLift

    with _deeplift_errors(ctx.model):
        return DeepLift(ctx.forward).attribute(
            x, baselines=resolve_baseline(ctx, ctx.params["baseline"], x, rows), target=target,
            additional_forward_args=extra_args(extra),
        )


def _prepare_distribution(ctx, x):
    ctx.state["distribution"] = baseline_distribution(ctx, x)


def _deeplift_shap(ctx, x, target, extra, rows):
    from captum.attr import DeepLiftShap

    dist: Tensor = ctx.state["distribution"]
    n = dist.shape[0]
    if n < 2:  # Captum's DeepLiftShap wants a distribution; one baseline is plain DeepLIFT
        dist = dist.expand(2, *dist.shape[1:])
        n = 2
    per_eval = ctx.params.get("baselines_per_eval") or n
    total = torch.zeros_like(x)
    # DeepLiftShap pairs every input with every baseline; blocks of baselines bound the memory
    # and their weighted mean equals the mean over all baselines.
    with _deeplift_errors(ctx.model):
        for block in chunks(n, max(2, int(per_eval))):
            b = dist[block]
            if b.shape[0] < 2:
                b = torch.cat([b, b])
            extra_b = extra_args(extra)
            attr = DeepLiftShap(ctx.forward).attribute(
                x, baselines=b, target=target, additional_forward_args=extra_b
            )
            total += attr * (block.stop - block.start)
    return total / n


def _gradient_shap(ctx, x, target, extra, rows):
    # Captum's GradientShap semantics (NoiseTunnel over InputBaselineXGradient), with all draws
    # made per row from the seed so that batch_size does not change the result.
    p = ctx.params
    dist: Tensor = ctx.state["distribution"]
    n, stdev = int(p["n_samples"]), float(p["stdevs"])
    sample = tuple(x.shape[1:])
    idx, alpha, noise = [], [], []
    for g in row_generators(ctx.seed, rows, SALT_NOISE):
        idx.append(torch.randint(dist.shape[0], (n,), generator=g))
        alpha.append(torch.rand(n, generator=g))
        noise.append(torch.randn((n, *sample), generator=g))
    idx_t = torch.stack(idx).to(x.device)  # (b, n)
    alpha_t = torch.stack(alpha).to(x.device, x.dtype).view(-1, n, *([1] * len(sample)))
    noisy = x.unsqueeze(1) + stdev * torch.stack(noise).to(x.device, x.dtype)  # (b, n, *sample)
    base = dist[idx_t]  # (b, n, *sample)
    points = base + alpha_t * (noisy - base)
    grads = input_gradient(
        ctx.forward, points.reshape(-1, *sample), target.repeat_interleave(n),
        _repeat_extra(extra, n),
    ).view_as(points)
    return (grads * (noisy - base)).mean(dim=1)


def _smoothgrad(ctx, x, target, extra, rows):
    # Captum NoiseTunnel(Saliency) semantics; the noise is drawn per row from the seed.
    p = ctx.params
    n, stdev, kind = int(p["n_samples"]), float(p["stdevs"]), p["nt_type"]
    if kind not in ("smoothgrad", "smoothgrad_sq", "vargrad"):
        raise ConfigError(f"nt_type must be smoothgrad, smoothgrad_sq or vargrad, got {kind!r}")
    sample = tuple(x.shape[1:])
    noise = draw_rows(ctx.seed, rows, (n, *sample), SALT_NOISE, "normal", x.device).to(x.dtype)
    noisy = x.unsqueeze(1) + stdev * noise
    grads = input_gradient(
        ctx.forward, noisy.reshape(-1, *sample), target.repeat_interleave(n),
        _repeat_extra(extra, n),
    ).view_as(noisy)
    if p["abs"]:
        grads = grads.abs()
    if kind == "smoothgrad":
        return grads.mean(dim=1)
    if kind == "smoothgrad_sq":
        return (grads**2).mean(dim=1)
    return grads.var(dim=1, unbiased=False)


def _guided_backprop(ctx, x, target, extra, rows):
    from captum.attr import GuidedBackprop

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*backward hooks.*")
        return GuidedBackprop(ctx.forward).attribute(
            x, target=target, additional_forward_args=extra_args(extra)
        )


# ------------------------------------------------------------------------------------------------
# Perturbation family


def _perturbation_baseline(ctx, x, rows):
    return resolve_baseline(ctx, ctx.params["baseline"], x, rows)


def _interpretable(ctx, x, target, extra, rows, cls_name: str) -> Tensor:
    import captum.attr as ca

    p = ctx.params
    try:
        import sklearn  # noqa: F401  (Captum's default interpretable models are scikit-learn's)
    except ImportError as exc:
        raise NotApplicableError(
            f"{cls_name} needs scikit-learn for its interpretable model; install scikit-learn"
        ) from exc
    if cls_name == "Lime":
        explainer = ca.Lime(
            ctx.forward,
            similarity_func=ca._core.lime.get_exp_kernel_similarity_function(
                p["distance_mode"], kernel_width=float(p["kernel_width"])
            ),
        )
        salt = SALT_LIME
    else:
        explainer = ca.KernelShap(ctx.forward)
        salt = SALT_KERNEL_SHAP
    mask = feature_mask_param(ctx, x, p["n_segments"])
    base = _perturbation_baseline(ctx, x, rows)
    out = []
    # Captum fits one surrogate model per example anyway; looping here lets each row have its own
    # seed, so the result does not depend on batch_size.
    for i, r in enumerate(rows.tolist()):
        with seeded_global_rng(_mix(ctx.seed, r, salt), x.device), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out.append(explainer.attribute(
                x[i:i + 1], baselines=base[i:i + 1], target=target[i:i + 1],
                additional_forward_args=tuple(e[i:i + 1] for e in extra) or None,
                feature_mask=mask, n_samples=int(p["n_samples"]),
                perturbations_per_eval=perturbations_per_eval(ctx),
            ))
    return torch.cat(out)


# LIME and KernelSHAP: ``implementation="batched"`` (default) runs Captum's algorithm batched
# over samples x perturbations (saliencylab.explain.surrogate); "captum" calls Captum per sample.


def _surrogate_adapter(method: str, captum_cls: str) -> Adapter:
    def prepare(ctx, x):  # fail before any work on a bad parameter
        from saliencylab.explain.surrogate import validate_params

        validate_params(ctx.params, method)

    def run(ctx, x, target, extra, rows):
        if ctx.params.get("implementation", "batched") == "captum":
            return _interpretable(ctx, x, target, extra, rows, captum_cls)
        from saliencylab.explain.surrogate import run_surrogate

        return run_surrogate(ctx, x, target, extra, rows, method)

    return Adapter(run, prepare)


def _occlusion_windows(ctx: Context, x: Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    p = ctx.params
    if ctx.modality == "image":
        c = x.shape[1]
        window, stride = (c, 4, 4), (c, 2, 2)
    else:  # one whole time step (token): [TSB]
        f = x.shape[2]
        window, stride = (1, f), (1, f)
    window = tuple(p["sliding_window_shapes"] or window)
    stride = tuple(p["strides"] or stride)
    p["sliding_window_shapes"], p["strides"] = list(window), list(stride)
    if len(window) != x.dim() - 1 or len(stride) != x.dim() - 1:
        raise ShapeError(f"sliding_window_shapes and strides need {x.dim() - 1} entries (one per "
                         f"non-batch dim), got {window} and {stride}")
    return window, stride


def _occlusion(ctx, x, target, extra, rows):
    from captum.attr import Occlusion

    window, stride = _occlusion_windows(ctx, x)
    return Occlusion(ctx.forward).attribute(
        x, sliding_window_shapes=window, strides=stride,
        baselines=_perturbation_baseline(ctx, x, rows), target=target,
        additional_forward_args=extra_args(extra),
        perturbations_per_eval=perturbations_per_eval(ctx),
    )


def _feature_ablation(ctx, x, target, extra, rows):
    from captum.attr import FeatureAblation

    mask = ctx.params.get("feature_mask")
    if mask is not None:
        mask = feature_mask_param(ctx, x)
    elif ctx.modality == "text":  # one group per token: per embedding dim would mean little
        mask = default_feature_mask(ctx, x)
    return FeatureAblation(ctx.forward).attribute(
        x, baselines=_perturbation_baseline(ctx, x, rows), target=target,
        additional_forward_args=extra_args(extra), feature_mask=mask,
        perturbations_per_eval=perturbations_per_eval(ctx),
    )


def _feature_permutation(ctx, x, target, extra, rows):
    from captum.attr import FeaturePermutation

    if x.shape[0] < 2:
        raise ShapeError(
            "feature_permutation shuffles a feature group across the batch, so every chunk needs "
            f"at least 2 samples; got a chunk of {x.shape[0]} (raise batch_size or the batch)"
        )
    with seeded_global_rng(_mix(ctx.seed, int(rows[0]), SALT_PERM), x.device):
        return FeaturePermutation(ctx.forward).attribute(
            x, target=target, additional_forward_args=extra_args(extra),
            feature_mask=feature_mask_param(ctx, x),
            perturbations_per_eval=perturbations_per_eval(ctx),
        )


def _shapley(ctx, x, target, extra, rows):
    from captum.attr import ShapleyValueSampling

    # Captum draws one set of permutations for the whole batch; seeding every chunk the same way
    # gives every sample the permutations it would get unchunked.
    with seeded_global_rng(_mix(ctx.seed, 0, SALT_SHAPLEY), x.device):
        return ShapleyValueSampling(ctx.forward).attribute(
            x, baselines=_perturbation_baseline(ctx, x, rows), target=target,
            additional_forward_args=extra_args(extra), feature_mask=feature_mask_param(ctx, x),
            n_samples=int(ctx.params["n_samples"]),
            perturbations_per_eval=perturbations_per_eval(ctx),
        )


def _lazy(module: str, name: str) -> RunFn:
    def run(ctx, x, target, extra, rows):
        import importlib

        return getattr(importlib.import_module(module), name)(ctx, x, target, extra, rows)

    return run


def _lazy_prepare(module: str, name: str) -> PrepareFn:
    def prepare(ctx, x):
        import importlib

        getattr(importlib.import_module(module), name)(ctx, x)

    return prepare


ADAPTERS: dict[str, Adapter] = {
    "gradient": Adapter(_gradient),
    "gradient_x_input": Adapter(_gradient_x_input),
    "integrated_gradients": Adapter(_integrated_gradients),
    "deeplift": Adapter(_deeplift),
    "deeplift_shap": Adapter(_deeplift_shap, _prepare_distribution),
    "gradient_shap": Adapter(_gradient_shap, _prepare_distribution),
    "smoothgrad": Adapter(_smoothgrad),
    "guided_backprop": Adapter(_guided_backprop),
    "gradcam": Adapter(_lazy("saliencylab.explain.gradcam", "run_gradcam"),
                       _lazy_prepare("saliencylab.explain.gradcam", "prepare_gradcam")),
    "guided_gradcam": Adapter(_lazy("saliencylab.explain.gradcam", "run_guided_gradcam"),
                              _lazy_prepare("saliencylab.explain.gradcam", "prepare_gradcam")),
    "lrp": Adapter(_lazy("saliencylab.explain.lrp", "run_lrp"),
                   _lazy_prepare("saliencylab.explain.lrp", "prepare_lrp")),
    "lime": _surrogate_adapter("lime", "Lime"),
    "kernel_shap": _surrogate_adapter("kernel_shap", "KernelShap"),
    "occlusion": Adapter(_occlusion),
    "feature_ablation": Adapter(_feature_ablation),
    "feature_permutation": Adapter(_feature_permutation),
    "shapley_value_sampling": Adapter(_shapley),
    "learned_mask": Adapter(_lazy("saliencylab.explain.masks", "run_learned_mask"),
                            _lazy_prepare("saliencylab.explain.masks", "prepare_learned_mask")),
}
