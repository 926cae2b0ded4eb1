"""Temporal Saliency Rescaling (TSR), batched.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi, "Benchmarking Deep Learning Interpretability in Time
Series Predictions", NeurIPS 2020. TSR decouples a (time, feature) saliency map into a time
relevance score and a feature relevance score, both measured by how much the attribution map
changes when parts of the input are masked ([TSB] §7, Algorithm 1). For one sample X (T x F) and
an attribution method R:

1. for each time step t, X_t = X with every feature at t masked; Delta_t = sum |R(X) - R(X_t)|;
2. for each t with Delta_t > alpha and each feature i, X_ti = X with only x_{i,t} masked;
   delta_{i,t} = sum |R(X) - R(X_ti)| (otherwise delta_{i,t} = 0);
3. R^TSR_{i,t} = delta_{i,t} * Delta_t.

That is T + (#relevant t) * F attribution calls per sample when done one masked input at a time
(the reference code, and TSInterpret, loop in Python). Here every masked copy of every sample is
built on the fly as rows of one big batch (rows of ``batch_size``), so the whole procedure costs
``ceil(B / bs) + ceil(B * T / bs) + ceil(K * F / bs)`` calls of ``attribute`` for B samples with K
relevant (sample, time) pairs; the masked copies are never all materialised at once.

Ragged series (``valid=``, a ``(B, T)`` mask of valid steps): a padded step is never masked
(no masked copy is made for it, and masking a window or a feature leaves its padded steps as they
are), takes no part in the threshold or the normalisations, and gets 0.

Batching removes the per-call cost (Python, Captum, many small kernels), not the arithmetic, so
the gain over the loop is about (cost of one single-input call) / (cost of one row in a big
batch). benchmarks/tsr.py measures it on the reference TCN with 50 x 50 inputs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from saliencylab.errors import ConfigError, ShapeError, check_nonfinite
from saliencylab.utils import check_rank, chunks, model_device

__all__ = [
    "CHUNK_ELEMENTS",
    "TSRResult",
    "default_batch_size",
    "temporal_saliency_rescaling",
    "tsr",
]

AttributeFn = Callable[..., torch.Tensor]
MaskValue = Literal["first", "zero", "mean"] | float

# Input elements per chunk of rows when no batch_size is given, by device type. On CPU, Saliency
# on the reference TCN cost 0.14 ms of CPU per row in chunks of 256-1024 rows of 50 x 50 and
# 0.32 ms in chunks of 4096 (out of cache), so CPU takes 1024 rows (10 MB in float32).
# Accelerators take 4096 rows.
# Methods that expand the batch internally (integrated gradients with n_steps, SmoothGrad, ...)
# multiply this, so pass a batch_size divided by that factor for those.
CHUNK_ELEMENTS = {"cpu": 1024 * 50 * 50, "accelerator": 4096 * 50 * 50}

_THRESHOLDS = ("mean", "paper", "quantile")
_TIME_RELEVANCE = ("masking", "attribution")


@dataclass
class TSRResult:
    """TSR map plus its parts (all on the input's device).

    ``attributions`` (B, T, F) is the rescaled map; ``time_relevance`` (B, T) is Delta (after
    normalisation when that option is on; in the windowed variant each step carries its group's
    value); ``feature_relevance`` (B, T, F) is delta as it enters the product (normalised and with
    the below-threshold value filled in); ``relevant`` (B, T) says which steps passed the
    threshold; ``alpha`` (B,) is the threshold used per sample; ``calls`` counts ``attribute``
    calls per phase; ``options`` are the effective options.
    """

    attributions: torch.Tensor
    time_relevance: torch.Tensor
    feature_relevance: torch.Tensor
    relevant: torch.Tensor
    alpha: torch.Tensor
    calls: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def default_batch_size(
    n_time: int, n_features: int, device: torch.device | str | None = "cpu"
) -> int:
    """Rows per ``attribute`` call when none is given: ``CHUNK_ELEMENTS // (T * F)``, with the
    CPU budget on CPU and the larger one on CUDA/MPS.

    >>> default_batch_size(50, 50), default_batch_size(50, 50, "cuda")
    (1024, 4096)
    """
    kind = "cpu" if device is None or torch.device(device).type == "cpu" else "accelerator"
    return max(1, CHUNK_ELEMENTS[kind] // max(1, n_time * n_features))


def _resolve_options(
    *,
    reference_quirks: bool,
    window: int | None,
    mask_value: MaskValue | None,
    threshold: str | None,
    quantile: float | None,
    normalize_time: bool | None,
    normalize_features: bool | None,
    below_threshold: float | None,
    final_scale: bool | None,
) -> dict[str, Any]:
    """Fill options left as None with the paper defaults or, under ``reference_quirks``, the
    choices of the authors' released code. Explicit values always win."""
    q = reference_quirks

    def pick(value: Any, paper: Any, reference: Any) -> Any:
        return value if value is not None else (reference if q else paper)

    # [TSB] Algorithm 1 masks with X-bar = 0; the released code writes the sample's first
    # element x[0, 0] (mask_value="first", one of the reference choices). The windowed variant
    # masks with the group mean in both.
    default_mask = "mean" if window is not None else pick(None, "zero", "first")
    return {
        "mask_value": mask_value if mask_value is not None else default_mask,
        "threshold": pick(threshold, "mean", "quantile"),
        "quantile": quantile if quantile is not None else 0.55,
        "normalize_time": pick(normalize_time, False, True),
        "normalize_features": pick(normalize_features, False, True),
        "below_threshold": pick(below_threshold, 0.0, 0.1),
        "final_scale": pick(final_scale, False, True),
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate(
    inputs: torch.Tensor,
    target: int | torch.Tensor,
    opts: dict[str, Any],
    window: int | None,
    alpha: float | None,
    batch_size: int | None,
    time_relevance: str,
) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        got = inputs.dtype if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ShapeError(
            f"inputs must be a floating-point tensor (batch, time, features), got {got}"
        )
    check_rank(inputs, 3, "inputs", "(batch, time, features)")
    check_nonfinite(inputs, "inputs")
    n = inputs.shape[0]
    if isinstance(target, bool) or not isinstance(target, int | torch.Tensor):
        raise ConfigError(
            f"target must be an int or a (batch,) tensor of class indices, got {target!r}"
        )
    if isinstance(target, int):
        target = torch.full((n,), target, dtype=torch.long, device=inputs.device)
    else:
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise ConfigError(f"target must hold integer class indices, got dtype {target.dtype}")
        if target.dim() == 0:
            target = target.expand(n)
        if target.dim() < 1 or target.shape[0] != n:  # (n,) or per sample, e.g. (n, T)
            raise ShapeError(
                f"target must have shape ({n},) (or ({n}, ...) of targets per sample) to match "
                f"inputs, got {tuple(target.shape)}"
            )
        target = target.to(device=inputs.device, dtype=torch.long)

    mv = opts["mask_value"]
    if isinstance(mv, str):
        if mv not in ("first", "zero", "mean"):
            raise ConfigError(f"mask_value must be 'first', 'zero', 'mean' or a number, got {mv!r}")
    elif isinstance(mv, bool) or not isinstance(mv, int | float) or not math.isfinite(mv):
        raise ConfigError(
            f"mask_value must be 'first', 'zero', 'mean' or a finite number, got {mv!r}"
        )
    if opts["threshold"] not in _THRESHOLDS:
        raise ConfigError(f"threshold must be one of {_THRESHOLDS}, got {opts['threshold']!r}")
    if not _is_number(opts["quantile"]) or not 0.0 <= float(opts["quantile"]) <= 1.0:
        raise ConfigError(f"quantile must lie in [0, 1], got {opts['quantile']!r}")
    if alpha is not None and (not _is_number(alpha) or not math.isfinite(float(alpha))):
        raise ConfigError(f"alpha must be a finite number or None, got {alpha!r}")
    if not _is_number(opts["below_threshold"]) or not math.isfinite(
            float(opts["below_threshold"])):
        raise ConfigError(f"below_threshold must be a finite number, got "
                          f"{opts['below_threshold']!r}")
    for flag in ("normalize_time", "normalize_features", "final_scale"):
        if not isinstance(opts[flag], bool):
            raise ConfigError(f"{flag} must be True, False or None, got {opts[flag]!r}")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 1
    ):
        raise ConfigError(f"window must be a positive int or None, got {window!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if time_relevance not in _TIME_RELEVANCE:
        raise ConfigError(
            f"time_relevance must be one of {_TIME_RELEVANCE}, got {time_relevance!r}"
        )
    return target


def _fill_values(
    x: torch.Tensor, groups: torch.Tensor, mask_value: MaskValue,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Value written into a masked cell, per (sample, group, feature): shape (B, G, F)."""
    b, _, f = x.shape
    g = groups.shape[0]
    if mask_value == "first":  # the reference code: the sample's first element x[0, 0]
        return x[:, 0, 0].reshape(b, 1, 1).expand(b, g, f)
    if mask_value == "zero":
        return x.new_zeros(()).expand(b, g, f)
    if mask_value == "mean":  # per-feature mean over the group's (valid) time steps
        if valid is None:
            weights = groups.to(x.dtype) / groups.sum(1, keepdim=True).to(x.dtype)
            return torch.einsum("gt,btf->bgf", weights, x)
        member = (groups[None] & valid[:, None, :]).to(x.dtype)  # (B, G, T)
        weights = member / member.sum(2, keepdim=True).clamp_min(1)
        return torch.einsum("bgt,btf->bgf", weights, x)
    return x.new_full((), float(mask_value)).expand(b, g, f)


def _minmax(
    values: torch.Tensor, dim: int | tuple[int, ...], keep: torch.Tensor | None = None
) -> torch.Tensor:
    """Min-max scale along ``dim``; a constant slice maps to 0 (as sklearn's minmax_scale).
    With ``keep`` (bool, broadcastable), over the kept cells only; the others become 0."""
    if keep is None:
        lo = values.amin(dim=dim, keepdim=True)
        span = values.amax(dim=dim, keepdim=True) - lo
        return (values - lo) / torch.where(span > 0, span, torch.ones_like(span))
    keep = keep.expand(values.shape)
    lo = values.masked_fill(~keep, float("inf")).amin(dim=dim, keepdim=True)
    hi = values.masked_fill(~keep, float("-inf")).amax(dim=dim, keepdim=True)
    span = hi - lo
    out = (values - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(keep, out, torch.zeros_like(out))


def _check_valid(valid: object, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool or tuple(
        valid.shape
    ) != tuple(x.shape[:2]):
        got = (f"{tuple(valid.shape)} {valid.dtype}" if isinstance(valid, torch.Tensor)
               else type(valid).__name__)
        raise ShapeError(f"valid must be a bool tensor of shape (batch, time) = "
                         f"{tuple(x.shape[:2])}, got {got}")
    if x.shape[0] and not bool(valid.any(1).all()):
        raise ConfigError("valid must mark at least one time step of every sample")
    return valid.to(x.device)


class _Caller:
    """Calls ``attribute`` on a chunk, checks the result and counts the calls."""

    def __init__(self, attribute: AttributeFn, pass_sample_index: bool):
        self.attribute, self.pass_sample_index, self.calls = attribute, pass_sample_index, 0

    def __call__(
        self, rows: torch.Tensor, target: torch.Tensor, index: torch.Tensor
    ) -> torch.Tensor:
        self.calls += 1
        if self.pass_sample_index:
            out = self.attribute(rows, target, index)
        else:
            out = self.attribute(rows, target)
        if not isinstance(out, torch.Tensor) or out.shape != rows.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(
                f"attribute(inputs, target) must return a tensor of the inputs' shape "
                f"{tuple(rows.shape)}, got {got}"
            )
        return out.detach()

    def change(
        self, rows: torch.Tensor, target: torch.Tensor, index: torch.Tensor, base: torch.Tensor
    ) -> torch.Tensor:
        """sum |R(X) - R(masked row)| per row; ``base`` holds R(X) of each row's sample."""
        total = torch.linalg.vector_norm(self(rows, target, index) - base, ord=1, dim=(1, 2))
        # A NaN or inf anywhere in a row's attributions makes its sum non-finite, so checking
        # the sums is as strict as checking every value, at a fraction of the cost.
        check_nonfinite(total, "attributions returned by attribute")
        return total


def _mask_rows(
    x: torch.Tensor,
    b: torch.Tensor,
    g: torch.Tensor,
    values: torch.Tensor,
    window: int,
    feature: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Copies of samples ``x[b]`` with group ``g`` masked: all features (``values`` (n, F)) or,
    with ``feature``, only that feature (``values`` (n,)); with ``valid`` (B, T), only the
    group's valid steps. Writes in place into the fresh copy instead of a full-size where(),
    which matters when the model is cheap."""
    rows = x[b]
    n_time = x.shape[1]
    idx = torch.arange(rows.shape[0], device=x.device)
    for offset in range(window):
        t = g * window + offset
        # rows whose group has this offset (the last group may be shorter)
        if valid is None:
            sel = idx if window == 1 else (t < n_time).nonzero(as_tuple=True)[0]
        else:
            inside = t < n_time
            ok = inside.clone()
            ok[inside] = valid[b[inside], t[inside]]
            sel = ok.nonzero(as_tuple=True)[0]
        if feature is None:
            rows[sel, t[sel]] = values[sel]
        else:
            rows[sel, t[sel], feature[sel]] = values[sel]
    return rows


def temporal_saliency_rescaling(
    attribute: AttributeFn,
    inputs: torch.Tensor,
    target: int | torch.Tensor,
    *,
    mask_value: MaskValue | None = None,
    threshold: Literal["mean", "paper", "quantile"] | None = None,
    alpha: float | None = None,
    quantile: float | None = None,
    normalize_time: bool | None = None,
    normalize_features: bool | None = None,
    below_threshold: float | None = None,
    final_scale: bool | None = None,
    reference_quirks: bool = False,
    window: int | None = None,
    time_relevance: Literal["masking", "attribution"] = "masking",
    batch_size: int | None = None,
    pass_sample_index: bool = False,
    return_details: bool = False,
    valid: torch.Tensor | None = None,
) -> torch.Tensor | TSRResult:
    """Temporal Saliency Rescaling of any attribution method, batched ([TSB] Ismail et al.,
    NeurIPS 2020, §7 and Algorithm 1).

    Args:
        attribute: ``attribute(inputs, target) -> attributions`` for a batch ``inputs`` (n, T, F)
            and ``target`` (n,) long, returning (n, T, F). It must treat rows independently (a
            model in eval mode; a fixed baseline). With ``pass_sample_index=True`` it is called
            as ``attribute(inputs, target, index)`` where ``index`` (n,) gives the sample each row
            was made from (to pick per-sample baselines, say).
        inputs: (B, T, F) float tensor. target: an int or a (B,) tensor of class indices (or any
            integer tensor with one row per sample, e.g. (B, T) classes per step; each masked
            copy gets its sample's row).
        mask_value: what a masked cell becomes: ``"zero"`` (X-bar = 0 of [TSB] Algorithm 1;
            the default), ``"first"`` (the sample's first element x[0, 0], as in the reference
            code; the default under ``reference_quirks``), ``"mean"`` (the feature's mean over
            the masked time steps, the default of the windowed variant) or a number.
        threshold: how alpha is chosen per sample when ``alpha`` is None: ``"mean"`` (alias
            ``"paper"``; the paper leaves alpha to the user, our default is the mean of Delta over
            the sample's time steps) or ``"quantile"`` (the ``quantile``-quantile of Delta, 0.55 in
            the reference code). A step is relevant when Delta_t > alpha (strict).
        alpha: a fixed threshold for every sample (compared with Delta after normalisation when
            ``normalize_time``); overrides ``threshold``.
        quantile: level used by ``threshold="quantile"`` (default 0.55).
        normalize_time: min-max scale Delta per sample before thresholding (reference code).
        normalize_features: min-max scale delta over features per relevant time step (reference).
        below_threshold: delta of the steps below threshold (0 in the paper, 0.1 in the reference
            code, so those steps keep 0.1 * Delta_t).
        final_scale: take |.| of the map and min-max scale it per sample (reference code).
        reference_quirks: turn every reference-code choice above on (mask "first", normalised
            Delta with its 0.55-quantile as alpha, normalised delta, 0.1 below threshold, final
            scaling); options given explicitly still win.
        window: windowed variant: consecutive groups of ``window`` time steps (the last may be
            shorter) are masked together, Delta is computed per group, and a relevant group's
            features are masked over the whole group; every step of a group gets the group's
            score. Default mask value there is the group mean per feature.
        time_relevance: ``"masking"`` (the algorithm above) or ``"attribution"`` (Delta_t = mean
            of |R(X)| over the cells of step t / group, as in the later released code; skips the
            T masked calls per sample).
        batch_size: rows per ``attribute`` call; default ``default_batch_size(T, F, device)``:
            1024 rows of 50 x 50 on CPU, 4096 on an accelerator (see ``CHUNK_ELEMENTS``).
            Divide it by the method's internal expansion (IG's n_steps) to bound memory and
            stay in cache.
        return_details: return a :class:`TSRResult` instead of the map alone.
        valid: (B, T) bool, the valid steps of ragged series: padded steps are never masked,
            are left out of the thresholds and normalisations, and get 0.

    Returns:
        (B, T, F) tensor of TSR scores (or a :class:`TSRResult`).

    Example:
        >>> from captum.attr import Saliency
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 3, 2))
        >>> sal = Saliency(model)
        >>> x = torch.randn(4, 8, 3)
        >>> maps = temporal_saliency_rescaling(
        ...     lambda xx, tt: sal.attribute(xx, target=tt, abs=True), x, torch.zeros(4).long())
        >>> maps.shape
        torch.Size([4, 8, 3])
    """
    opts = _resolve_options(
        reference_quirks=reference_quirks,
        window=window,
        mask_value=mask_value,
        threshold=threshold,
        quantile=quantile,
        normalize_time=normalize_time,
        normalize_features=normalize_features,
        below_threshold=below_threshold,
        final_scale=final_scale,
    )
    target = _validate(inputs, target, opts, window, alpha, batch_size, time_relevance)
    x = inputs.detach()
    n, n_time, n_feat = x.shape
    dev = x.device
    bs = batch_size or default_batch_size(n_time, n_feat, dev)
    caller = _Caller(attribute, pass_sample_index)
    calls: dict[str, int] = {}

    # Groups of time steps: one per step, or windows of `window` steps. groups[g, t] is True when
    # step t belongs to group g.
    w = window or 1
    n_groups = -(-n_time // w)
    group_of_t = torch.arange(n_time, device=dev) // w
    groups = group_of_t[None, :] == torch.arange(n_groups, device=dev)[:, None]
    vmask = None if valid is None else _check_valid(valid, x)  # (B, T)
    # group_ok[b, g]: the group holds a valid step of sample b (None: every group does)
    group_ok = None if vmask is None else (vmask.to(x.dtype) @ groups.T.to(x.dtype)) > 0
    fills = _fill_values(x, groups, opts["mask_value"], vmask)

    # R(X), once.
    sample_ids = torch.arange(n, device=dev)
    base = (
        torch.cat([caller(x[s], target[s], sample_ids[s]) for s in chunks(n, bs)])
        if n
        else x.new_zeros(x.shape)
    )
    check_nonfinite(base, "attributions returned by attribute")
    calls["original"] = caller.calls

    # Phase 1: Delta per (sample, group). Row r of the virtual (B * G) batch is sample r // G
    # with group r % G masked.
    if time_relevance == "attribution":
        # mean |R(X)| over the (valid) cells of each group
        cell = base.abs().mean(2)  # (B, T)
        if vmask is None:
            delta_time = cell @ groups.T.to(cell.dtype) / groups.sum(1).to(cell.dtype)
        else:
            member = vmask.to(cell.dtype)
            delta_time = ((cell * member) @ groups.T.to(cell.dtype)
                          / (member @ groups.T.to(cell.dtype)).clamp_min(1))
    else:
        if group_ok is None:  # row r of the virtual batch: sample r // G, group r % G
            pair_s = torch.arange(n, device=dev).repeat_interleave(n_groups)
            pair_t = torch.arange(n_groups, device=dev).repeat(n)
        else:  # only groups with a valid step
            pair_s, pair_t = group_ok.nonzero(as_tuple=True)
        delta_time = base.new_zeros(n, n_groups)
        for s in chunks(pair_s.numel(), bs):
            b, g = pair_s[s], pair_t[s]
            rows = _mask_rows(x, b, g, fills[b, g], w, valid=vmask)
            delta_time[b, g] = caller.change(rows, target[b], b, base[b])
    calls["time"] = caller.calls - calls["original"]

    # Threshold per sample (over the groups with a valid step).
    if opts["normalize_time"]:
        delta_time = _minmax(delta_time, 1, group_ok)
    if alpha is not None:
        alpha_t = delta_time.new_full((n,), float(alpha))
    elif opts["threshold"] == "quantile":
        if not n:
            alpha_t = delta_time.new_zeros(0)
        elif group_ok is None:
            alpha_t = torch.quantile(delta_time, float(opts["quantile"]), dim=1)
        else:
            masked = delta_time.masked_fill(~group_ok, float("nan"))
            alpha_t = torch.nanquantile(masked, float(opts["quantile"]), dim=1)
    elif group_ok is None:
        alpha_t = delta_time.mean(1)
    else:
        alpha_t = (delta_time * group_ok).sum(1) / group_ok.sum(1).clamp_min(1)
    relevant = delta_time > alpha_t[:, None]  # (B, G)
    if group_ok is not None:
        relevant &= group_ok

    # Phase 2: delta per (relevant sample-group pair, feature). Row r is pair r // F with
    # feature r % F masked over the pair's group.
    pair_b, pair_g = relevant.nonzero(as_tuple=True)
    n_pairs = pair_b.numel()
    delta_feat = base.new_zeros(n_pairs * n_feat)
    for s in chunks(n_pairs * n_feat, bs):
        r = torch.arange(s.start, s.stop, device=dev)
        k, i = r // n_feat, r % n_feat
        b, g = pair_b[k], pair_g[k]
        rows = _mask_rows(x, b, g, fills[b, g, i], w, feature=i, valid=vmask)
        delta_feat[s] = caller.change(rows, target[b], b, base[b])
    delta_feat = delta_feat.reshape(n_pairs, n_feat)
    calls["feature"] = caller.calls - calls["original"] - calls["time"]

    if opts["normalize_features"]:
        delta_feat = _minmax(delta_feat, 1)
    feature_rel = base.new_full((n, n_groups, n_feat), float(opts["below_threshold"]))
    feature_rel[pair_b, pair_g] = delta_feat

    # R^TSR_{i,t} = delta_{i,t} * Delta_t, each step taking its group's scores.
    tsr_map = feature_rel[:, group_of_t] * delta_time[:, group_of_t, None]
    if vmask is not None:
        tsr_map = torch.where(vmask[..., None], tsr_map, torch.zeros_like(tsr_map))
    if opts["final_scale"] and n:
        tsr_map = _minmax(tsr_map.abs(), (1, 2), None if vmask is None else vmask[..., None])

    if not return_details:
        return tsr_map
    effective = dict(
        opts,
        alpha=alpha,
        window=window,
        time_relevance=time_relevance,
        batch_size=bs,
        reference_quirks=reference_quirks,
        valid=vmask is not None,
    )
    return TSRResult(
        attributions=tsr_map,
        time_relevance=delta_time[:, group_of_t],
        feature_relevance=feature_rel[:, group_of_t],
        relevant=relevant[:, group_of_t],
        alpha=alpha_t,
        calls=calls,
        options=effective,
    )


_TSR_OPTIONS = frozenset(
    name
    for name, p in inspect.signature(temporal_saliency_rescaling).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY
)


def tsr(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    target: int | torch.Tensor,
    method: str = "gradient",
    **options: Any,
) -> torch.Tensor | TSRResult:
    """TSR of a named saliency method: ``explain(model, x, t, method, **params)`` is the inner
    attribution ([TSB] Ismail et al., NeurIPS 2020).

    ``options`` that :func:`temporal_saliency_rescaling` knows (``mask_value``, ``threshold``,
    ``alpha``, ``window``, ``reference_quirks``, ``batch_size``, ``valid``, ...) go to it; the
    rest (``baselines``, ``n_steps``, ``seed``, ...) go to the method. ``batch_size`` is passed
    to both, and ``valid`` (ragged series) too: each masked copy gets its sample's valid steps.

    Example::

        maps = tsr(model, x, y, method="integrated_gradients", n_steps=20, batch_size=256)
    """
    from saliencylab.explain import explain  # lazy: explain imports this module

    tsr_opts = {k: v for k, v in options.items() if k in _TSR_OPTIONS}
    method_params = {k: v for k, v in options.items() if k not in _TSR_OPTIONS}
    if "pass_sample_index" in tsr_opts:
        raise ConfigError(
            "tsr() builds its own attribute callable; pass_sample_index is not an option"
        )
    if "batch_size" in tsr_opts:
        method_params["batch_size"] = tsr_opts["batch_size"]
    if isinstance(inputs, torch.Tensor) and (
        next(model.parameters(), None) is not None or next(model.buffers(), None) is not None
    ):
        inputs = inputs.to(model_device(model))

    valid = tsr_opts.get("valid")
    if valid is None:

        def attribute(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return explain(model, x, t, method=method, **method_params).attributions

        return temporal_saliency_rescaling(attribute, inputs, target, **tsr_opts)

    valid = _check_valid(valid, inputs)

    def attribute_valid(x: torch.Tensor, t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return explain(model, x, t, method=method, valid=valid[index],
                       **method_params).attributions

    return temporal_saliency_rescaling(attribute_valid, inputs, target, pass_sample_index=True,
                                       **tsr_opts)
