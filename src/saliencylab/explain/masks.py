"""Learned masking explanations of [CS] Gupta, Saunshi, Yu, Lyu, Arora, *New Definitions and
Evaluations for Saliency Methods: Staying Intrinsic, Complete and Sound*, NeurIPS 2022.

For an input ``x`` and a label ``a`` the mask ``M = upsample_s(sigmoid(W))`` (``W`` at ``1/s`` of
the input's resolution, initialised at 0, so ``M = 0.5`` everywhere at the start) minimises

    L(M) = -log E_xbar[ p_a(M * x + (1 - M) * xbar) ] + lambda_TV * TV(M) + lambda_1 * ||M||_1

where ``xbar`` are ``K`` distractors drawn afresh from a pool (the training set) at every step,
``TV`` is the sum of squared differences of neighbouring cells (rows and columns for images,
along time only for series) and ``||M||_1`` the sum of the mask. Adam, lr 0.05, 2000 steps
([CS] §4, Eq. 4; Appendix D for the settings per dataset).

Layouts: images ``(B, C, H, W)`` get one mask per pixel shared over the channels, upsampled
bilinearly; time series ``(B, T, F)`` one mask per (time, feature) cell, or per time step with
``shared_across_features=True``, upsampled linearly along time.

Everything happens in one optimisation for all samples *and* all requested labels: the loss is
the sum of the per-mask losses, so each mask follows exactly the trajectory it would follow alone
(Adam is element-wise). The distractor draws are a counter-based hash of ``(seed, sample id,
label, step, draw)``, so a batched run and separate runs with the same ``sample_ids`` see the
same distractors and give the same masks.

Ragged series (``valid=``, a ``(B, T)`` mask of valid steps): a padded step keeps the input in
the blend (it is never replaced by a distractor), does not enter the TV and L1 penalties, and
gets mask 0.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 3, 2))
    >>> x, pool = torch.rand(2, 4, 3), torch.rand(20, 4, 3)
    >>> res = learn_masks(net, x, torch.tensor([[0, 1], [1, 0]]), pool, steps=5)
    >>> res.masks.shape  # (batch, labels, time, features)
    torch.Size([2, 2, 4, 3])
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError, check_nonfinite
from saliencylab.explain.method import Context, Method
from saliencylab.targets import targets_2d
from saliencylab.utils import chunks, eval_mode, model_device

__all__ = [
    "MaskResult",
    "distractor_indices",
    "learn_masks",
    "mask_keys",
    "targets_2d",
    "total_variation",
    "upsample_mask",
]

_MASK32 = 0xFFFFFFFF


@dataclass
class MaskResult:
    """Masks learned by :func:`learn_masks`.

    ``masks``: values in (0, 1), broadcastable to the input: images ``(B, [L,] 1, H, W)``,
    series ``(B, [L,] T, F)`` or ``(B, [L,] T, 1)`` when shared across features; the label axis
    ``L`` is there when ``targets`` was 2-D. ``targets``: the labels, ``(B,)`` or ``(B, L)``.
    ``loss`` / ``probability``: per mask, the loss and ``E_xbar p_a(x~)`` after the last step
    (with a fresh distractor draw). ``history``: ``(steps, B[, L])`` losses before each update
    when ``return_history=True``. ``params``: the effective settings. ``members``: with
    ``ensemble = K > 1``, the K masks whose mean ``masks`` is, ``(B, [L,] K, ...)``.
    """

    masks: Tensor
    targets: Tensor
    loss: Tensor
    probability: Tensor
    history: Tensor | None = None
    params: dict[str, Any] = field(default_factory=dict)
    members: Tensor | None = None  # an ensemble's K masks, (B, [L,] K, ...) (None: K = 1)

    def expanded(self, inputs: Tensor) -> Tensor:
        """The masks broadcast to the input's shape (with the label axis if there is one)."""
        shape = tuple(inputs.shape)
        if self.masks.dim() == len(shape) + 1:
            shape = (shape[0], self.masks.shape[1], *shape[1:])
        return self.masks.expand(shape)


# ------------------------------------------------------------------------------------------------
# Reproducible distractor draws: a counter-based hash, no generator state to keep in step.


def _pcg(v: Tensor) -> Tensor:
    """PCG-RXS-M-XS 32-bit output hash of int64 values in [0, 2^32) (no int64 overflow)."""
    state = (v * 747796405 + 2891336453) & _MASK32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & _MASK32
    return ((word >> 22) ^ word) & _MASK32


def mask_keys(seed: int, sample_ids: Tensor, labels: Tensor) -> Tensor:
    """32-bit keys ``(B, L)`` naming each mask's distractor stream from ``(seed, sample, label)``.

    >>> k = mask_keys(0, torch.arange(2), torch.tensor([[3, 5], [3, 5]]))
    >>> k.shape, bool(k[0, 0] != k[1, 0])
    (torch.Size([2, 2]), True)
    """
    s = _pcg(torch.tensor(int(seed) & _MASK32, dtype=torch.long, device=labels.device))
    ids = sample_ids.to(labels.device).long() & _MASK32
    return _pcg(_pcg(s ^ ids).unsqueeze(1) ^ (labels.long() & _MASK32))


def _key_noise(keys: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Uniform values in [-0.5, 0.5) of ``(len(keys), *shape)``, a function of each row's key
    alone (so chunking the rows changes nothing).

    >>> a = _key_noise(torch.tensor([1, 2]), (3,)); b = _key_noise(torch.tensor([2]), (3,))
    >>> bool((a[1] == b[0]).all()), bool((a[0] != a[1]).any())
    (True, True)
    """
    cells = torch.arange(math.prod(shape), device=keys.device, dtype=torch.long)
    h = _pcg(_pcg(keys.long().unsqueeze(1) ^ 0x27D4EB2F) ^ cells)
    return (h.double() / 2**32 - 0.5).reshape(len(keys), *shape)


def distractor_indices(keys: Tensor, step: int, k: int, pool_size: int) -> Tensor:
    """Indices ``(*keys.shape, k)`` into a pool of ``pool_size`` for one optimisation step.

    >>> keys = torch.tensor([7, 8])
    >>> bool((distractor_indices(keys, 3, 4, 10) == distractor_indices(keys, 3, 4, 10)).all())
    True
    """
    h = _pcg(keys.long() ^ int(step))
    draws = torch.arange(k, device=keys.device, dtype=torch.long)
    return _pcg(h.unsqueeze(-1) ^ (draws * 0x9E3779B9 & _MASK32)) % int(pool_size)


# ------------------------------------------------------------------------------------------------
# Masks


def upsample_mask(w: Tensor, size: tuple[int, ...], kind: str) -> Tensor:
    """``upsample(sigmoid(w))``: bilinear to ``size=(H, W)`` for images (``w`` is
    ``(N, 1, h, w)``), linear along time to ``size=(T,)`` for series (``w`` is ``(N, t, f)``).
    """
    m = torch.sigmoid(w)
    if kind == "image":
        if tuple(m.shape[-2:]) == tuple(size):
            return m
        return F.interpolate(m, size=size, mode="bilinear", align_corners=False)
    if m.shape[1] == size[0]:
        return m
    return F.interpolate(m.transpose(1, 2), size=size, mode="linear",
                         align_corners=False).transpose(1, 2)


def total_variation(mask: Tensor, kind: str, valid: Tensor | None = None) -> Tensor:
    """Per-mask sum of squared neighbour differences: rows and columns of ``(N, 1, H, W)``
    image masks, along time (dim 1) only for ``(N, T, F)`` series masks (with ``valid``
    ``(N, T, 1)``, only pairs of valid steps).

    >>> total_variation(torch.tensor([[[0.0], [1.0], [1.0]]]), "time_series")
    tensor([1.])
    """
    if kind == "image":
        dh = (mask[..., 1:, :] - mask[..., :-1, :]).pow(2).flatten(1).sum(1)
        dw = (mask[..., :, 1:] - mask[..., :, :-1]).pow(2).flatten(1).sum(1)
        return dh + dw
    diff = (mask[:, 1:] - mask[:, :-1]).pow(2)
    if valid is not None:
        diff = diff * (valid[:, 1:] & valid[:, :-1]).to(diff.dtype)
    return diff.flatten(1).sum(1)


@contextlib.contextmanager
def frozen_eval(model: nn.Module) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` on every parameter, both restored afterwards.

    Freezing keeps autograd from building graphs through the weights (and so from touching
    their ``.grad``); each module's mode (:func:`saliencylab.utils.eval_mode`) and each
    parameter's flag come back as they were.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    with eval_mode(model):
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


def _check_positive(name: str, value: Any, kind: type = int, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = ok and isinstance(value, int)
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {expected} {kind.__name__}, got {value!r}")


def learn_masks(
    model: nn.Module,
    inputs: Tensor,
    targets: int | Tensor,
    distractors: Tensor,
    *,
    upsample: int = 1,
    lambda_tv: float = 0.0,
    lambda_l1: float = 1e-3,
    n_distractors: int = 10,
    steps: int = 2000,
    lr: float = 0.05,
    shared_across_features: bool = False,
    generator: torch.Generator | None = None,
    seed: int = 0,
    sample_ids: Tensor | None = None,
    batch_size: int | None = None,
    return_history: bool = False,
    valid: Tensor | None = None,
    ensemble: int = 1,
    lambda_disjoint: float = 1.0,
) -> MaskResult:
    """Learn one [CS] mask per (input, label) in a single batched optimisation.

    Args:
        model: returns logits ``(batch, classes)``; used in eval mode with its parameters
            frozen (mode and ``requires_grad`` flags restored afterwards, no ``.grad`` touched).
        inputs: ``(B, C, H, W)`` images or ``(B, T, F)`` series on the model's device.
        targets: an int, ``(B,)`` labels, or ``(B, L)`` to learn ``L`` masks per input (e.g.
            the predicted and the second most likely label).
        distractors: a pool ``(N, ...)`` of inputs of the same shape (the training set); ``K``
            of them are drawn for every mask at every step.
        upsample: ``s``: ``W`` lives at ``ceil(size / s)`` (images: both sides, series: time).
        lambda_tv, lambda_l1: weights of ``TV(M)`` and ``||M||_1`` ([CS] lambda_1 = 1e-3 on
            CIFAR-10, 2e-5 on ImageNet; lambda_TV in {0, 0.001, 0.01, 0.1}).
        n_distractors: ``K`` (10 in [CS]).
        steps, lr: Adam steps and learning rate (2000, 0.05 in [CS]).
        shared_across_features: series only: one mask value per time step.
        generator: if given, the base seed of the distractor stream is drawn from it;
            otherwise ``seed`` is the base seed.
        sample_ids: ``(B,)`` ids naming each sample's distractor stream (default
            ``arange(B)``); a separate run of sample ``b`` with ``sample_ids=[b]`` reproduces
            its masks from a batched run.
        batch_size: at most this many masks per optimisation (masks are independent, so the
            result does not depend on it).
        return_history: keep the per-mask loss of every step.
        valid: series only: ``(B, T)`` bool, the valid time steps of ragged series; padded
            steps keep the input, are left out of the penalties and get mask 0.
        ensemble: ``K`` masks per (input, label) that each validate the label but are as
            disjoint as possible ([CS] Appendix D.3, "Effect of ensembling", K in {1, 2, 4});
            the result is their mean, and ``MaskResult.members`` keeps them. K = 1 is the
            single mask.
        lambda_disjoint: weight of the overlap penalty of an ensemble: each member pays the
            mean product of its mask with every other member's (0 with K = 1). [CS] does not
            give its formulation; this is ours.

    Returns:
        A :class:`MaskResult`.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 3))
        >>> x, pool = torch.randn(4, 2, 6, 6), torch.randn(32, 2, 6, 6)
        >>> r = learn_masks(net, x, torch.tensor([0, 1, 2, 0]), pool, upsample=2, steps=10)
        >>> r.masks.shape, bool(((r.masks > 0) & (r.masks < 1)).all())
        (torch.Size([4, 1, 6, 6]), True)
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, Tensor) or not inputs.is_floating_point():
        got = inputs.dtype if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ShapeError(f"inputs must be a float tensor (B, C, H, W) or (B, T, F), got {got}")
    if inputs.dim() not in (3, 4):
        raise NotApplicableError(
            "learned masks apply to images (B, C, H, W) and time series (B, T, F); got inputs "
            f"of shape {tuple(inputs.shape)}"
        )
    kind = "image" if inputs.dim() == 4 else "time_series"
    if inputs.shape[0] < 1:
        raise ShapeError(f"inputs must hold at least one sample, got {tuple(inputs.shape)}")
    if not isinstance(distractors, Tensor) or tuple(distractors.shape[1:]) != tuple(
        inputs.shape[1:]
    ) or distractors.shape[0] < 1:
        got = tuple(distractors.shape) if isinstance(distractors, Tensor) else type(distractors)
        raise ShapeError(f"distractors must be a pool (N, {', '.join(map(str, inputs.shape[1:]))})"
                         f" of inputs, got {got}")
    _check_settings(upsample=upsample, n_distractors=n_distractors, steps=steps, lr=lr,
                    lambda_tv=lambda_tv, lambda_l1=lambda_l1,
                    shared_across_features=shared_across_features, kind=kind)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")
    _check_positive("ensemble", ensemble)
    _check_positive("lambda_disjoint", lambda_disjoint, float, allow_zero=True)
    check_nonfinite(inputs, "inputs")
    check_nonfinite(distractors, "distractors")

    has_weights = any(True for _ in model.parameters()) or any(True for _ in model.buffers())
    device = model_device(model) if has_weights else inputs.device
    if inputs.device != device:
        raise ConfigError(f"the model is on {device} but the inputs are on {inputs.device}")
    from saliencylab.explain.api import check_model_layout, match_model_dtype

    check_model_layout(model, inputs)
    inputs = match_model_dtype(model, inputs)
    distractors = match_model_dtype(model, distractors, "distractors")
    n = inputs.shape[0]
    labels, several = targets_2d(targets, n, device)
    n_labels = labels.shape[1]
    if sample_ids is None:
        sample_ids = torch.arange(n, device=device)
    sample_ids = torch.as_tensor(sample_ids, device=device).long().reshape(-1)
    if sample_ids.shape[0] != n:
        raise ShapeError(f"sample_ids must have one id per sample ({n}), got {sample_ids.shape[0]}")
    if generator is not None:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                 device=generator.device).item())
    keys = mask_keys(seed, sample_ids, labels).reshape(-1)
    per = n_labels * ensemble  # rows per sample
    if ensemble > 1:  # member k of a mask draws its own distractor stream
        members = torch.arange(ensemble, device=device)
        keys = _pcg(keys.unsqueeze(1) ^ (members * 0x85EBCA6B & _MASK32)).reshape(-1)
    valid_rows = None
    if valid is not None:
        valid = _check_valid(valid, inputs, kind).to(device)
        valid_rows = valid.repeat_interleave(per, dim=0)[..., None]  # (rows, T, 1)

    # One row per (sample, label, member): masks are independent across (sample, label), so
    # rows can be chunked freely in whole ensembles.
    x_rows = inputs.detach().repeat_interleave(per, dim=0)
    label_rows = labels.reshape(-1).repeat_interleave(ensemble)
    pool = distractors.detach().to(device=device, dtype=inputs.dtype)
    if kind == "image":
        size = tuple(inputs.shape[-2:])
        w_shape = (1, *(math.ceil(s / upsample) for s in size))
    else:
        size = (inputs.shape[1],)
        w_shape = (math.ceil(size[0] / upsample), 1 if shared_across_features else inputs.shape[2])

    masks, losses, probs, hists = [], [], [], []
    # enable_grad: the optimisation needs autograd even when called under torch.no_grad().
    with frozen_eval(model), torch.enable_grad():
        groups = None if batch_size is None else max(1, batch_size // ensemble)
        for g in chunks(x_rows.shape[0] // ensemble, groups):
            sl = slice(g.start * ensemble, g.stop * ensemble)
            m, loss, prob, hist = _optimise(
                model, x_rows[sl], label_rows[sl], keys[sl], pool, kind, size, w_shape,
                steps=steps, lr=lr, lambda_tv=lambda_tv, lambda_l1=lambda_l1,
                k=n_distractors, history=return_history,
                valid=None if valid_rows is None else valid_rows[sl],
                ensemble=ensemble, lambda_disjoint=lambda_disjoint,
            )
            masks.append(m)
            losses.append(loss)
            probs.append(prob)
            if hist is not None:
                hists.append(hist)

    def shape(t: Tensor, lead: tuple[int, ...] = (), keep_members: bool = False) -> Tensor:
        t = t.reshape(*lead, n, n_labels, ensemble, *t.shape[len(lead) + 1:])
        if not keep_members:
            t = t.mean(len(lead) + 2)
        return t if several else t.squeeze(len(lead) + 1)

    history = shape(torch.cat(hists, dim=1), (steps,)) if return_history else None
    all_masks = torch.cat(masks)
    params = {
        "upsample": upsample, "lambda_tv": lambda_tv, "lambda_l1": lambda_l1,
        "n_distractors": n_distractors, "steps": steps, "lr": lr,
        "shared_across_features": shared_across_features, "seed": seed,
        "pool_size": int(pool.shape[0]), "batch_size": batch_size, "valid": valid is not None,
        "ensemble": ensemble, "lambda_disjoint": lambda_disjoint,
    }
    check_nonfinite(torch.cat(losses), "the masks' losses", "the model's outputs on the masked "
                    "inputs were not finite (NaN weights, or an overflow)", prefix="learned_mask")
    return MaskResult(
        masks=shape(all_masks), targets=labels if several else labels[:, 0],
        loss=shape(torch.cat(losses)), probability=shape(torch.cat(probs)), history=history,
        params=params,
        members=shape(all_masks, keep_members=True) if ensemble > 1 else None,
    )


def _optimise(
    model: nn.Module, x: Tensor, labels: Tensor, keys: Tensor, pool: Tensor, kind: str,
    size: tuple[int, ...], w_shape: tuple[int, ...], *, steps: int, lr: float,
    lambda_tv: float, lambda_l1: float, k: int, history: bool, valid: Tensor | None = None,
    ensemble: int = 1, lambda_disjoint: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Adam on ``W`` for the rows ``x``; returns masks, final loss, final probability, history.

    ``valid`` ``(rows, T, 1)``: padded steps keep the input and are left out of the penalties.
    ``ensemble``: consecutive groups of that many rows are the members of one ensemble; each
    pays ``lambda_disjoint`` times its mean overlap with the others.
    """
    rows = x.shape[0]
    w = torch.zeros((rows, *w_shape), device=x.device, dtype=x.dtype)
    if ensemble > 1:  # members start apart, or they would stay equal
        w = w + 0.2 * _key_noise(keys, w_shape).to(x.dtype)
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    hist = torch.empty((steps, rows), dtype=x.dtype, device=x.device) if history else None

    def loss_fn(step: int) -> tuple[Tensor, Tensor]:
        m = upsample_mask(w, size, kind)  # (rows, 1, H, W) or (rows, T, F|1)
        xbar = pool[distractor_indices(keys, step, k, pool.shape[0])]  # (rows, K, ...)
        blend = m if valid is None else torch.where(valid, m, torch.ones_like(m))
        mm = blend.unsqueeze(1)
        blended = mm * x.unsqueeze(1) + (1 - mm) * xbar
        logp = torch.log_softmax(model(blended.flatten(0, 1)), dim=-1)
        logp = logp.gather(1, labels.repeat_interleave(k).unsqueeze(1)).view(rows, k)
        log_mean_p = torch.logsumexp(logp, dim=1) - math.log(k)
        l1 = m if valid is None else m * valid.to(m.dtype)
        loss = (-log_mean_p + lambda_tv * total_variation(m, kind, valid)
                + lambda_l1 * l1.flatten(1).sum(1))
        if ensemble > 1 and lambda_disjoint > 0:
            flat = l1.flatten(1).view(rows // ensemble, ensemble, -1)
            # <m_k, sum of the others> per member, as a mean over the cells
            others = flat.sum(1, keepdim=True) - flat
            loss = loss + lambda_disjoint * (flat * others).mean(2).reshape(-1)
        return loss, log_mean_p.exp()

    for step in range(steps):
        loss, _ = loss_fn(step)
        # Summing keeps the masks independent: d(sum)/dW_i = dL_i/dW_i.
        (grad,) = torch.autograd.grad(loss.sum(), w)
        w.grad = grad
        opt.step()
        if hist is not None:
            hist[step] = loss.detach()
    with torch.no_grad():
        loss, prob = loss_fn(steps)
        masks = upsample_mask(w, size, kind)
        if valid is not None:
            masks = masks * valid.to(masks.dtype)
    return masks.detach(), loss.detach(), prob.detach(), hist


def _check_settings(
    *, upsample: Any, n_distractors: Any, steps: Any, lr: Any, lambda_tv: Any, lambda_l1: Any,
    shared_across_features: Any, kind: str | None,
) -> None:
    for name, value in (("upsample", upsample), ("n_distractors", n_distractors)):
        _check_positive(name, value)
    _check_positive("steps", steps, allow_zero=True)
    _check_positive("lr", lr, float)
    _check_positive("lambda_tv", lambda_tv, float, allow_zero=True)
    _check_positive("lambda_l1", lambda_l1, float, allow_zero=True)
    if not isinstance(shared_across_features, bool):
        raise ConfigError(f"shared_across_features must be True or False, got "
                          f"{shared_across_features!r}")
    if shared_across_features and kind == "image":
        raise ConfigError("shared_across_features applies to (B, T, F) series; image masks are "
                          "always shared over the channels")


def _check_valid(valid: Any, inputs: Tensor, kind: str) -> Tensor:
    if kind != "time_series":
        raise NotApplicableError("valid= marks the valid time steps of (B, T, F) series; got "
                                 f"inputs of shape {tuple(inputs.shape)}")
    if not isinstance(valid, Tensor) or valid.dtype != torch.bool or tuple(valid.shape) != tuple(
        inputs.shape[:2]
    ):
        got = (f"{tuple(valid.shape)} {valid.dtype}" if isinstance(valid, Tensor)
               else type(valid).__name__)
        raise ShapeError(f"valid must be a bool tensor of shape {tuple(inputs.shape[:2])} "
                         f"(batch, time), got {got}")
    return valid


# ------------------------------------------------------------------------------------------------
# The method of saliencylab.explain.explain(method="learned_mask")

_ADAPTER_PARAMS = ("upsample", "lambda_tv", "lambda_l1", "n_distractors", "steps", "lr",
                   "shared_across_features", "ensemble", "lambda_disjoint")


_ENSEMBLE = ("ensemble", "lambda_disjoint")


def resolve_learned_mask(ctx: Context, x: Tensor) -> None:
    """Check the settings and the target (a class label of a ``(batch, classes)`` classifier);
    the default distractor pool of an ``explain`` call is the whole explained batch."""
    if len(ctx.output_shape) != 1:
        raise NotApplicableError(
            "learned_mask learns one mask per class label of a (batch, classes) classifier "
            f"([CS] §4); this model returns (batch, {', '.join(map(str, ctx.output_shape))}) "
            "per sample. Gradient and perturbation methods apply to any target"
        )
    p: Mapping[str, Any] = ctx.params
    kind = "image" if ctx.modality == "image" else "time_series"
    _check_settings(**{k: p[k] for k in _ADAPTER_PARAMS if k not in _ENSEMBLE}, kind=kind)
    _check_positive("ensemble", p["ensemble"])
    _check_positive("lambda_disjoint", p["lambda_disjoint"], float, allow_zero=True)
    pool = p.get("distractors")
    if pool is None:
        ctx.state["distractors"] = x.detach()
    elif not isinstance(pool, Tensor) or tuple(pool.shape[1:]) != tuple(x.shape[1:]) \
            or pool.shape[0] < 1:
        got = tuple(pool.shape) if isinstance(pool, Tensor) else type(pool).__name__
        raise ShapeError(f"distractors must be a pool (N, {', '.join(map(str, x.shape[1:]))}) "
                         f"of inputs, got {got}")
    else:
        ctx.state["distractors"] = pool


def run_learned_mask(ctx: Context, x: Tensor, target: Tensor, extra: tuple,
                     rows: Tensor) -> Tensor:
    """The mask of each row for its target class, broadcast to the input shape.

    The distractor stream of a row is keyed by its index in the whole call, so ``batch_size``
    does not change the result.
    """
    pool = ctx.state["distractors"]
    options = {k: ctx.params[k] for k in _ADAPTER_PARAMS}
    cells = ctx.valid_cells(rows, x)
    res = learn_masks(ctx.model, x, target, pool.to(x.device), seed=ctx.seed,
                      sample_ids=ctx.draw_keys(rows).to(x.device), **options,
                      valid=None if cells is None else cells[..., 0])
    return res.masks.expand_as(x)


LEARNED_MASK = Method(
    "learned_mask", "learned",
    "Mask upsample(sigmoid(W)) learned against K distractors with TV and L1 penalties (Adam lr "
    "0.05, 2000 steps) [CS] §4; distractors= a pool (default: the explained batch); "
    "ensemble=K averages K masks kept disjoint [CS] App. D.3",
    defaults={"steps": 2000, "lr": 0.05, "upsample": 1, "lambda_tv": 0.0, "lambda_l1": 1e-3,
              "n_distractors": 10, "shared_across_features": False, "ensemble": 1,
              "lambda_disjoint": 1.0},
    options=("distractors",), applies_to=("time_series", "image"), sampling=True,
    references=("CS",), run=run_learned_mask, resolve=resolve_learned_mask,
)
