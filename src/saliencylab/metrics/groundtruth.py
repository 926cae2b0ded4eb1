"""Ground-truth evaluation of saliency maps on data whose informative cells are known.

Implements the evaluation of [TSB] Ismail, Gunady, Corrada Bravo, Feizi, *Benchmarking Deep
Learning Interpretability in Time Series Predictions*, NeurIPS 2020, §4.2 (masking the most
salient features, accuracy drop) and §4.3 (weighted precision and recall, AUP, AUR, AUPR):

1. :func:`mass_top_mask` ranks each map's cells and, for each fraction ``d``, selects the smallest
   top set whose saliency **mass** reaches ``d`` of the map's total.
2. :func:`masked_accuracy` replaces the selected cells with fresh background draws of the data's
   own process and records, per sample, whether the model is still correct.
3. :func:`precision_recall` gives saliency-weighted precision and recall of the selected set
   against the ground-truth box, per cell, per time step or per feature.
4. :func:`evaluate_groundtruth` runs all of it and returns a :class:`GroundTruthResult` whose
   ``summary()`` holds AUP, AUR, AUPR and the accuracy-drop AUC; :func:`diff_vs_random` gives
   Diff(AUP) / Diff(AUR) against a random-map baseline.

:func:`groundtruth_scores` is the registry's metric function (the ``groundtruth`` family: one
call yields ``aup``, ``aur``, ``aupr`` and ``accuracy_auc``). Ragged series (``valid``): only
valid cells are ranked, masked and counted in precision and recall.

All-zero maps (no saliency on any valid cell, e.g. a method whose gradients vanish, or min-max
of a constant map) select no cell at any fraction. Their weighted precision ``0 / 0`` would be
undefined and leaving such samples out would reward a method for giving up on hard samples (and
make AUP / AUR NaN when every map is all zero). :func:`evaluate_groundtruth` therefore defines an
all-zero map as *finding nothing*: precision 0 at every ``d > 0`` and recall 0 at every ``d``
(where the sample's box has cells; a sample with an empty box has no recall, as for any map),
at the cell, time and feature level, and emits one warning saying how many samples had one.
Their masked inputs are the clean inputs (nothing is replaced), so their accuracy does not drop.
The values of every other map are unchanged.

Everything is batched: one sort per sample over the flattened cells (a single ``torch.sort``
for the whole batch), masked inputs of all fractions and samples go through the model in chunks
of ``batch_size`` rows (by default as many as the memory budget allows,
:func:`saliencylab.utils.rows_per_chunk`) on the model's device.

Where the authors' code differs from the paper, the paper is the default and the code is an
option (``reference_quirks=True`` turns on all of them):

- ``shared_background``: one background sample per fraction, shared by all test samples (the
  code) instead of a fresh draw per sample and fraction;
- ``stop_at_zero``: once accuracy reaches 0 at some fraction it stays 0 for all larger ones;
- ``full_mask_at_one``: at d = 100 % the whole sample is replaced (the code) instead of the
  selected (non-zero) cells.

Example:
    >>> import torch
    >>> s = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])            # one 2x2 map, total 10
    >>> mass_top_mask(s, [0.0, 0.5, 1.0])[1].flatten().tolist()  # 4 + 3 >= 5
    [True, True, False, False]
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from saliencylab.errors import (
    ConfigError,
    InvalidDataError,
    ShapeError,
    UnknownNameError,
    check_nonfinite,
)
from saliencylab.explain.api import check_model_layout
from saliencylab.metrics._common import (
    batch_size_of,
    check_flag,
    model_inputs,
    model_outputs,
    pass_rows,
    valid_cells,
)
from saliencylab.metrics.aggregate import mean_se_along, summary_rows, trapezoid
from saliencylab.metrics.protocol import (
    BackgroundFn,
    MetricContext,
    MetricOutput,
    as_context,
    require,
)
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks, eval_mode, model_device, resolve_generator

__all__ = [
    "DEFAULT_FRACTIONS",
    "BackgroundFn",
    "GroundTruthResult",
    "PrecisionRecall",
    "diff_vs_random",
    "evaluate_groundtruth",
    "groundtruth_scores",
    "level_precision_recall",
    "mass_top_mask",
    "masked_accuracy",
    "precision_recall",
]

#: d = 0 %, 10 %, ..., 100 % as in [TSB].
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(i / 10 for i in range(11))

LEVELS = ("cell", "time", "feature")


# ------------------------------------------------------------------------------------ helpers


def _accum_dtype(device: torch.device) -> torch.dtype:
    # float64 sums keep the mass threshold exact to ~1e-13; MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _as_fractions(fractions: Sequence[float] | torch.Tensor) -> torch.Tensor:
    try:
        f = torch.as_tensor(fractions, dtype=torch.float64).detach().flatten().cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"fractions must be increasing numbers in [0, 1], got "
                          f"{fractions!r}") from exc
    if f.numel() == 0:
        raise ConfigError("fractions must hold at least one value in [0, 1], got none")
    if not torch.isfinite(f).all() or (f < 0).any() or (f > 1).any():
        raise ConfigError(f"fractions must lie in [0, 1], got {f.tolist()}")
    if f.numel() > 1 and (f[1:] <= f[:-1]).any():
        raise ConfigError(f"fractions must be strictly increasing, got {f.tolist()}")
    return f


def _check_saliency(saliency: torch.Tensor) -> None:
    if not isinstance(saliency, torch.Tensor):
        raise ShapeError(f"saliency must be a torch.Tensor (N, *sample_shape), "
                         f"got {type(saliency).__name__}")
    if saliency.dim() < 2 or saliency.shape[0] == 0:
        raise ShapeError("saliency must have shape (N, *sample_shape) with N >= 1, "
                         f"got {tuple(saliency.shape)}")
    if not saliency.is_floating_point():
        raise InvalidDataError(f"saliency must be a float tensor, got dtype {saliency.dtype}")
    check_nonfinite(saliency, "saliency")
    if (saliency < 0).any():
        bad = int((saliency < 0).sum())
        raise InvalidDataError(
            f"saliency maps must be non-negative (mass-based ranking), but {bad} of "
            f"{saliency.numel()} values are negative; post-process with abs first "
            "(e.g. explain(..., postprocess='abs') or saliency.abs())")


def _check_same_shape(t: torch.Tensor, ref: torch.Tensor, name: str, ref_name: str) -> None:
    if tuple(t.shape) != tuple(ref.shape):
        raise ShapeError(f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, "
                         f"got {tuple(t.shape)}")


def _check_inputs(x: torch.Tensor, y: torch.Tensor, saliency: torch.Tensor) -> None:
    _check_saliency(saliency)
    _check_same_shape(x, saliency, "x", "saliency")
    check_nonfinite(x, "x")
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ShapeError(f"y must have shape (N,) = ({x.shape[0]},), got {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise InvalidDataError(f"y must hold integer class indices, got dtype {y.dtype}")


def _as_box(box_mask: torch.Tensor, saliency: torch.Tensor) -> torch.Tensor:
    _check_same_shape(box_mask, saliency, "box_mask", "saliency")
    if box_mask.dtype == torch.bool:
        return box_mask
    if box_mask.is_floating_point() or not ((box_mask == 0) | (box_mask == 1)).all():
        raise InvalidDataError(f"box_mask must be boolean (or 0/1 integers), got dtype "
                               f"{box_mask.dtype}")
    return box_mask.bool()


def _without_padding(saliency: torch.Tensor, valid: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The maps with padded cells zeroed (never selected, no mass) and the ``(N, T, F)`` bool
    mask of valid cells; ``(saliency, None)`` without ``valid``."""
    if valid is None or not isinstance(saliency, torch.Tensor):
        return saliency, None
    if saliency.dim() != 3:
        raise ShapeError(f"valid marks the steps of ragged series (N, T, F); got maps of shape "
                         f"{tuple(saliency.shape)}")
    cells = valid_cells(MetricContext(valid=valid), saliency)
    return saliency.masked_fill(~cells, 0), cells


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model_outputs(model, x)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"model must return logits of shape (batch, n_classes) = "
                         f"({x.shape[0]}, C), got {shape}")
    return out.argmax(dim=-1)


def _draw(background: BackgroundFn, n: int, generator: torch.Generator,
          like: torch.Tensor) -> torch.Tensor:
    out = background(n, generator)
    expected = (n, *like.shape[1:])
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"background({n}, generator) must return a tensor of shape {expected}, "
                         f"got {shape}")
    check_nonfinite(out, "background draw")
    return out.to(device=like.device, dtype=like.dtype)


# ------------------------------------------------------------------------------- mass ranking


def mass_top_mask(
    saliency: torch.Tensor,
    fractions: Sequence[float] | torch.Tensor = DEFAULT_FRACTIONS,
    *,
    rtol: float = 0.0,
) -> torch.Tensor:
    """Boolean masks ``(n_d, N, *sample_shape)`` of each map's top cells by saliency mass.

    [TSB] §4.2: for each fraction ``d`` the cells are taken in descending order of
    saliency until their cumulative sum reaches ``d`` times the map's total, i.e. the smallest
    top set with mass ``>= d * total`` (mass, not count), exactly: the cumulative sums are
    taken in float64 and compared with ``d * total`` without a tolerance, so a set whose mass
    falls short of the threshold by any amount does not reach it. ``rtol`` (default 0) lowers
    the threshold to ``d * total * (1 - rtol)`` for whoever wants an early stop. ``d = 0``
    selects nothing; ``d = 1`` selects exactly the non-zero cells; an all-zero map selects
    nothing at every ``d``. Ties are broken by flat cell index (earlier cell first), so the
    result is deterministic.

    One batched ``torch.sort`` over the flattened cells, a cumulative sum and a batched
    ``torch.searchsorted`` give the set sizes for all samples and fractions at once.

    Args:
        saliency: non-negative finite maps ``(N, *sample_shape)``. Signed attributions must be
            post-processed first (e.g. ``abs``): ``InvalidDataError`` otherwise.
        fractions: increasing values in [0, 1]; default 0, 0.1, ..., 1.
        rtol: relative tolerance on the mass threshold (default 0: the exact rule).

    Example:
        >>> s = torch.tensor([[0.5, 0.3, 0.2]])
        >>> mass_top_mask(s, [0.0, 0.6, 1.0]).int().tolist()
        [[[0, 0, 0]], [[1, 1, 0]], [[1, 1, 1]]]
    """
    _check_saliency(saliency)
    f = _as_fractions(fractions)
    return _MassRanking(saliency, f, rtol).masks()


class _MassRanking:
    """One sort of every map; the top-set sizes ``k`` (n_d, N) for all fractions at once."""

    def __init__(self, saliency: torch.Tensor, fractions: torch.Tensor, rtol: float):
        _check_rtol(rtol)
        self.shape = tuple(saliency.shape)
        n = saliency.shape[0]
        flat = saliency.detach().reshape(n, -1)
        acc = _accum_dtype(flat.device)
        values, self.order = torch.sort(flat, dim=1, descending=True, stable=True)
        self.sorted = values.to(acc)
        self.csum = self.sorted.cumsum(dim=1)  # (N, M), non-decreasing: maps are non-negative
        total = self.csum[:, -1:]
        nnz = (flat > 0).sum(dim=1, keepdim=True)  # (N, 1)
        d = fractions.to(device=flat.device, dtype=acc).unsqueeze(0)  # (1, n_d)
        thr = d * total * (1.0 - rtol)  # (N, n_d)
        first = torch.searchsorted(self.csum, thr.contiguous())  # first i with csum[i] >= thr
        k = torch.minimum(first + 1, nnz)
        k = torch.where(thr <= 0, torch.zeros_like(k), k)  # the empty set already reaches 0
        k = torch.where(d >= 1, nnz.expand_as(k), k)  # d = 1: exactly the non-zero cells
        n, m = self.order.shape
        # int32 positions halve the memory traffic of the per-chunk masks (M < 2**31)
        self.k = k.T.to(torch.int32).contiguous()  # (n_d, N)
        self.rank = torch.empty(n, m, dtype=torch.int32, device=flat.device)
        self.rank.scatter_(1, self.order, torch.arange(m, dtype=torch.int32,
                                                       device=flat.device).expand(n, m))

    def masks(self) -> torch.Tensor:
        """All selections, ``(n_d, N, *sample_shape)``."""
        mask = self.rank.unsqueeze(0) < self.k.unsqueeze(-1)  # (n_d, N, M)
        return mask.reshape(self.k.shape[0], *self.shape)

    def row_masks(self, di: torch.Tensor, ni: torch.Tensor) -> torch.Tensor:
        """Selections of the (fraction, sample) pairs ``(di, ni)``, ``(len(di), *sample_shape)``."""
        mask = self.rank[ni] < self.k[di, ni].unsqueeze(-1)
        return mask.reshape(len(di), *self.shape[1:])

    def level_selected(self, level: str) -> torch.Tensor:
        """Time steps / features with at least one selected cell, ``(n_d, N, T or F)``.

        A step is selected iff its best-ranked cell is, so one ``amin`` over the other axis
        replaces an ``any`` over all fractions' masks.
        """
        other = -1 if level == "time" else -2
        best = self.rank.reshape(self.shape).amin(dim=other)  # (N, T) or (N, F)
        return best.unsqueeze(0) < self.k.unsqueeze(-1)

    def cell_precision_recall(self, box: torch.Tensor) -> PrecisionRecall:
        """Cell-level precision/recall from prefix sums in sorted order, O(N M) not O(n_d N M).

        Equal to ``precision_recall(saliency, box, self.masks())`` up to summation order.
        """
        n = self.order.shape[0]
        box_sorted = box.reshape(n, -1).gather(1, self.order)
        tp_csum = (self.sorted * box_sorted).cumsum(dim=1)

        def prefix(c: torch.Tensor) -> torch.Tensor:  # sum of the top k cells, (n_d, N)
            idx = (self.k.long() - 1).clamp(min=0).T
            return torch.where(self.k > 0, c.gather(1, idx).T, torch.zeros((), dtype=c.dtype,
                                                                          device=c.device))

        sel_mass, tp = prefix(self.csum), prefix(tp_csum)
        box_mass = tp_csum[:, -1].expand_as(tp)
        return _pr_from_sums(tp, sel_mass, box_mass)


# ---------------------------------------------------------------------------- masked accuracy


def _check_rtol(rtol: Any) -> None:
    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not 0 <= rtol < 1:
        raise ConfigError(f"rtol must lie in [0, 1), got {rtol!r}")


def check_groundtruth_options(
    *, fractions: Any = DEFAULT_FRACTIONS, shared_background: Any = None,
    stop_at_zero: Any = None, full_mask_at_one: Any = None, reference_quirks: Any = False,
    rtol: Any = 0.0,
) -> None:
    """``ConfigError`` for a :func:`groundtruth_scores` option out of its range."""
    _as_fractions(fractions)
    _quirk_flags(reference_quirks, shared_background, stop_at_zero, full_mask_at_one)
    _check_rtol(rtol)


def _quirk_flags(reference_quirks: bool, shared_background: bool | None,
                 stop_at_zero: bool | None, full_mask_at_one: bool | None) -> dict[str, bool]:
    check_flag(reference_quirks, "reference_quirks")
    for name, value in (("shared_background", shared_background), ("stop_at_zero", stop_at_zero),
                        ("full_mask_at_one", full_mask_at_one)):
        check_flag(value, name, allow_none=True)

    def pick(v: bool | None) -> bool:
        return bool(reference_quirks) if v is None else bool(v)

    return {"shared_background": pick(shared_background), "stop_at_zero": pick(stop_at_zero),
            "full_mask_at_one": pick(full_mask_at_one)}


@contextlib.contextmanager
def _eval_without_grad(model: nn.Module) -> Iterator[None]:
    """Eval mode (each submodule's own mode restored afterwards) and no gradients."""
    with eval_mode(model), torch.no_grad():
        yield


def _masked_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ranking: _MassRanking,
    fractions: torch.Tensor,
    background: BackgroundFn,
    generator: torch.Generator,
    batch_size: int | None,
    *,
    shared_background: bool,
    stop_at_zero: bool,
    full_mask_at_one: bool,
    cells: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Correctness ``(n_d, N)`` after masking, and clean correctness ``(N,)``; all on x's device.

    Background draws are made per fraction, in order: ``background(N, g)`` (or
    ``background(1, g)`` when shared), so the numbers do not depend on ``batch_size``.
    Masks are built per chunk from the ranking, never for all rows at once.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ConfigError(f"batch_size must be a positive integer or None, got {batch_size}")
    batch_size = pass_rows(x[0].numel(), batch_size, model=model, sample=x[:1])
    n_d, n = ranking.k.shape
    full = (fractions.to(x.device) >= 1) if full_mask_at_one else torch.zeros(
        n_d, dtype=torch.bool, device=x.device)

    clean = torch.cat([_predict(model, x[sl]) for sl in chunks(n, batch_size)]) == y
    correct = clean.unsqueeze(0).repeat(n_d, 1)
    # Rows with nothing selected are the clean input: reuse the clean prediction.
    rows = ((ranking.k > 0) | full.unsqueeze(1)).flatten().nonzero().squeeze(1)
    draws: dict[int, torch.Tensor] = {}
    next_d = 0
    for sl in chunks(rows.numel(), batch_size):
        r = rows[sl]
        di, ni = r // n, r % n
        d_lo, d_hi = int(di[0]), int(di[-1])
        while next_d <= d_hi:  # draw in fraction order, whatever the chunking
            draws[next_d] = _draw(background, 1 if shared_background else n, generator, x)
            next_d += 1
        for old in [k for k in draws if k < d_lo]:
            del draws[old]
        if shared_background:
            bg = torch.cat([draws[k].expand(int((di == k).sum()), *x.shape[1:])
                            for k in range(d_lo, d_hi + 1)])
        else:
            bg = torch.cat([draws[k][ni[di == k]] for k in range(d_lo, d_hi + 1)])
        mask = ranking.row_masks(di, ni)
        if full_mask_at_one:
            whole = full[di].view(-1, *([1] * (x.dim() - 1)))
            mask |= whole if cells is None else whole & cells[ni]
        xm = torch.where(mask, bg, x[ni])
        correct[di, ni] = _predict(model, xm) == y[ni]

    if stop_at_zero:  # reference: accuracy stays 0 once it reaches 0 (fractions ascending)
        reached = (~correct.any(dim=1)).cumsum(dim=0) > 0
        correct[reached] = False
    return correct, clean


@dataclass(frozen=True)
class _MassMasking:
    """What :func:`_mass_masking` computed, on the model's device (``box`` as given)."""

    fractions: torch.Tensor
    generator: torch.Generator
    saliency: torch.Tensor
    box: torch.Tensor | None
    cells: torch.Tensor | None
    ranking: _MassRanking
    correct: torch.Tensor
    clean: torch.Tensor
    zero: torch.Tensor  # (N,) bool: maps without saliency on any valid cell


def _mass_masking(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, saliency: torch.Tensor,
    background: BackgroundFn, fractions: Sequence[float] | torch.Tensor, flags: dict[str, bool],
    *, generator: torch.Generator | int | None, batch_size: int | None, rtol: float,
    valid: torch.Tensor | None, box_mask: torch.Tensor | None = None,
) -> _MassMasking:
    """The checks, the ranking and the masked correctness that :func:`masked_accuracy` and
    :func:`evaluate_groundtruth` share (``box_mask`` is checked when given)."""
    check_model_layout(model, x)
    saliency, cells = _without_padding(saliency, valid)
    _check_inputs(x, y, saliency)
    box = None if box_mask is None else _as_box(box_mask, saliency)
    f = _as_fractions(fractions)
    device = model_device(model)
    gen = resolve_generator(generator)
    xd, yd = model_inputs(model, x.detach().to(device)), y.to(device)
    sd = saliency.detach().to(device)
    cells = None if cells is None else cells.to(device)
    ranking = _MassRanking(sd, f, rtol)
    zero = ~(sd.reshape(sd.shape[0], -1) > 0).any(dim=1)  # (N,) maps without saliency
    n_zero = int(zero.sum())
    if n_zero:
        scored = ("their inputs are never masked (accuracy stays the clean accuracy) and their "
                  "precision and recall count as 0" if box_mask is not None else
                  "their inputs are never masked, so the accuracy stays the clean accuracy")
        where = " on their valid cells" if cells is not None else ""
        warnings.warn(
            f"{n_zero} of {sd.shape[0]} saliency maps are all zero{where} and select no cell at "
            f"any fraction: {scored} (see saliencylab.metrics.groundtruth)", stacklevel=3,
        )
    with _eval_without_grad(model):
        correct, clean = _masked_correct(model, xd, yd, ranking, f, background, gen, batch_size,
                                         **flags, cells=cells)
    return _MassMasking(f, gen, sd, box, cells, ranking, correct, clean, zero)


def masked_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    saliency: torch.Tensor,
    background: BackgroundFn,
    fractions: Sequence[float] | torch.Tensor = DEFAULT_FRACTIONS,
    *,
    shared_background: bool | None = None,
    stop_at_zero: bool | None = None,
    full_mask_at_one: bool | None = None,
    reference_quirks: bool = False,
    generator: torch.Generator | int | None = None,
    batch_size: int | None = None,
    rtol: float = 0.0,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample correctness ``(n_d, N)`` after replacing each map's top-mass cells by background.

    [TSB] §4.2: the cells of :func:`mass_top_mask` are replaced with fresh draws of
    the data's own uninformative process (so inputs stay in distribution) and the model's
    prediction is compared with ``y``. All ``n_d * N`` masked inputs go through the model in
    chunks of ``batch_size`` on the model's device, in eval mode, without gradients (the
    model's train/eval state is restored afterwards). Rows with nothing selected (``d = 0``)
    reuse the clean prediction, so accuracy at ``d = 0`` is the clean accuracy.

    Args:
        model: returns logits ``(batch, n_classes)``.
        x, y: inputs ``(N, *sample_shape)`` and integer labels ``(N,)``.
        saliency: non-negative maps of ``x``'s shape.
        background: ``background(n, generator) -> (n, *sample_shape)``; e.g.
            ``dataset.background``. Called once per fraction, in order of ``fractions``
            (fractions after the last one that selects anything are not drawn), so results do
            not depend on ``batch_size``.
        fractions: increasing values in [0, 1].
        shared_background: one background sample per fraction shared by all samples (the
            reference code) instead of a fresh draw per sample and fraction (default).
        stop_at_zero: once accuracy is 0 at some fraction, it is 0 at all larger ones (the
            reference code's rule).
        full_mask_at_one: at d = 1 replace the whole sample, as the reference code does,
            instead of only the non-zero cells.
        reference_quirks: default for the three options above (each may still be set).
        generator: ``torch.Generator`` or int seed for the background draws (None: seed 0).
        batch_size: inputs per model call; None sizes the chunks by memory
            (:func:`saliencylab.metrics._common.pass_rows`: the rows whose passes fit the
            memory budget, so the cost stays linear in ``N`` and the input size).
        rtol: tolerance of the mass threshold (see :func:`mass_top_mask`).
        valid: ``(N, T)`` bool valid steps of ragged series ``(N, T, F)`` (None: all valid);
            padded cells are never selected nor replaced.

    Returns:
        Bool tensor ``(n_d, N)`` on ``x``'s device.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
        >>> x, y = torch.rand(4, 3, 2), torch.zeros(4, dtype=torch.long)
        >>> bg = lambda n, g: torch.rand(n, 3, 2, generator=g)
        >>> masked_accuracy(model, x, y, torch.rand(4, 3, 2), bg).shape
        torch.Size([11, 4])
    """
    flags = _quirk_flags(reference_quirks, shared_background, stop_at_zero, full_mask_at_one)
    run = _mass_masking(model, x, y, saliency, background, fractions, flags,
                        generator=generator, batch_size=batch_size, rtol=rtol, valid=valid)
    return run.correct.to(x.device)


# ------------------------------------------------------------------------ precision / recall


@dataclass(frozen=True)
class PrecisionRecall:
    """Saliency-weighted precision and recall per fraction and sample, ``(n_d, N)`` each.

    ``precision`` is NaN where nothing with positive saliency was selected and ``recall`` NaN
    where the box holds no saliency: these values are *undefined* and excluded from means;
    ``precision_valid`` / ``recall_valid`` mark the defined entries.
    """

    precision: torch.Tensor
    recall: torch.Tensor
    precision_valid: torch.Tensor
    recall_valid: torch.Tensor

    def to(self, device: torch.device | str) -> PrecisionRecall:
        return PrecisionRecall(*(t.to(device) for t in (self.precision, self.recall,
                                                          self.precision_valid,
                                                          self.recall_valid)))


def precision_recall(
    saliency: torch.Tensor, box_mask: torch.Tensor, selected: torch.Tensor
) -> PrecisionRecall:
    """Weighted precision and recall of selected sets against the box ([TSB] §4.3).

    With S the map, P the selected set and B the box, per sample and fraction:
    ``precision = sum_{P∩B} S / sum_P S`` and ``recall = sum_{P∩B} S / sum_B S``.
    A zero denominator makes the value undefined (NaN, ``*_valid`` False), never 0.

    Args:
        saliency: non-negative maps ``(N, *shape)``.
        box_mask: ground-truth boolean masks ``(N, *shape)``.
        selected: boolean selections ``(n_d, N, *shape)``, e.g. from :func:`mass_top_mask`.

    Example:
        >>> s = torch.tensor([[1.0, 3.0]]); box = torch.tensor([[False, True]])
        >>> pr = precision_recall(s, box, torch.tensor([[[True, True]]]))
        >>> pr.precision.item(), pr.recall.item()
        (0.75, 1.0)
    """
    _check_saliency(saliency)
    box = _as_box(box_mask, saliency)
    if selected.dtype != torch.bool or tuple(selected.shape[1:]) != tuple(saliency.shape):
        raise ShapeError(f"selected must be a bool tensor (n_d, *{tuple(saliency.shape)}), "
                         f"got {selected.dtype} {tuple(selected.shape)}")
    return _weighted_pr(saliency, box.to(saliency.device), selected.to(saliency.device))


def _weighted_pr(s: torch.Tensor, box: torch.Tensor, sel: torch.Tensor) -> PrecisionRecall:
    acc = _accum_dtype(s.device)
    n_d, n = sel.shape[:2]
    s = s.detach().to(acc).reshape(n, -1)
    box = box.reshape(n, -1)
    sel = sel.reshape(n_d, n, -1)
    in_sel = torch.where(sel, s, torch.zeros((), dtype=acc, device=s.device))
    sel_mass = in_sel.sum(dim=-1)  # (n_d, N)
    tp = (in_sel * box).sum(dim=-1)
    box_mass = (s * box).sum(dim=-1).expand(n_d, n)
    return _pr_from_sums(tp, sel_mass, box_mass)


def _pr_from_sums(tp: torch.Tensor, sel_mass: torch.Tensor, box_mass: torch.Tensor
                  ) -> PrecisionRecall:
    pv, rv = sel_mass > 0, box_mass > 0  # zero denominators: undefined, never 0
    nan = torch.full_like(tp, math.nan)
    precision = torch.where(pv, tp / torch.where(pv, sel_mass, 1.0), nan)
    recall = torch.where(rv, tp / torch.where(rv, box_mass, 1.0), nan)
    return PrecisionRecall(precision, recall, pv, rv.clone())


def _zero_maps_find_nothing(pr: PrecisionRecall, zero: torch.Tensor, box_any: torch.Tensor,
                            inner: torch.Tensor) -> PrecisionRecall:
    """``pr`` with the all-zero maps' samples (``zero`` (N,)) defined as finding nothing:
    precision 0 where ``inner`` (n_d,) (the fractions d > 0), recall 0 where the sample's box
    has cells (``box_any`` (N,)); every other entry as it was."""
    if not bool(zero.any()):
        return pr
    zero = zero.to(pr.precision.device)
    p_def = inner.to(zero.device)[:, None] & zero[None, :]  # (n_d, N)
    r_def = zero & box_any.to(zero.device)
    r_def = r_def[None, :].expand_as(pr.recall)
    zeros = torch.zeros((), dtype=pr.precision.dtype, device=zero.device)
    return PrecisionRecall(
        precision=torch.where(p_def, zeros, pr.precision),
        recall=torch.where(r_def, zeros, pr.recall),
        precision_valid=pr.precision_valid | p_def,
        recall_valid=pr.recall_valid | r_def,
    )


def level_precision_recall(
    saliency: torch.Tensor, box_mask: torch.Tensor, selected: torch.Tensor, level: str = "time"
) -> PrecisionRecall:
    """Time-level or feature-level weighted precision / recall ([TSB] §4.3).

    For ``(N, T, F)`` data a time step (feature) counts as *selected* if any of its cells is
    selected and as *informative* if any of its cells is in the box. Its saliency is the **sum**
    of its cells' saliency over the other axis (our choice; the reference code instead uses the
    mean of the top-k cells with k the box's extent), so a time step's weight is its share of
    the map's mass. ``level="cell"`` is :func:`precision_recall`.

    Example:
        >>> s = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])      # T=2, F=2
        >>> box = torch.tensor([[[True, True], [False, False]]])
        >>> sel = torch.tensor([[[[True, False], [False, True]]]])
        >>> level_precision_recall(s, box, sel, "time").precision.item()
        0.3333333333333333
    """
    if level not in LEVELS:
        raise UnknownNameError("precision/recall level", level, LEVELS)
    if level == "cell":
        return precision_recall(saliency, box_mask, selected)
    _check_saliency(saliency)
    if saliency.dim() != 3:
        raise ShapeError(f"{level}-level precision/recall needs time series (N, T, F), "
                         f"got saliency of shape {tuple(saliency.shape)}")
    box = _as_box(box_mask, saliency).to(saliency.device)
    if selected.dtype != torch.bool or tuple(selected.shape[1:]) != tuple(saliency.shape):
        raise ShapeError(f"selected must be a bool tensor (n_d, *{tuple(saliency.shape)}), "
                         f"got {selected.dtype} {tuple(selected.shape)}")
    selected = selected.to(saliency.device)
    other = -1 if level == "time" else -2
    return _level_pr(saliency, box, selected.any(dim=other), level)


def _level_pr(s: torch.Tensor, box: torch.Tensor, sel_level: torch.Tensor, level: str
              ) -> PrecisionRecall:
    """``sel_level``: selected time steps / features, ``(n_d, N, T or F)``."""
    other = -1 if level == "time" else -2  # the axis collapsed away
    s = s.detach().to(_accum_dtype(s.device)).sum(dim=other)  # sum in float64 like the cells
    return _weighted_pr(s, box.any(dim=other), sel_level)


# ------------------------------------------------------------------------------------ results


def _fmt(d: float) -> str:
    return f"{d:g}"


@dataclass
class GroundTruthResult:
    """Per-sample outcome of :func:`evaluate_groundtruth`; summaries are derived from it.

    Attributes (all on CPU):
        fractions: ``(n_d,)`` float64 fractions d.
        correct: ``(n_d, N)`` bool, model correct after masking the top-d mass.
        clean_correct: ``(N,)`` bool, model correct on the clean input.
        cell: cell-level :class:`PrecisionRecall`.
        time, feature: time- and feature-level versions (None unless data is ``(N, T, F)``).
        params: the evaluation options used (quirk flags, rtol, seed).
    """

    fractions: torch.Tensor
    correct: torch.Tensor
    clean_correct: torch.Tensor
    cell: PrecisionRecall
    time: PrecisionRecall | None = None
    feature: PrecisionRecall | None = None
    params: dict[str, Any] = field(default_factory=dict)

    # Cell-level shortcuts.
    @property
    def precision(self) -> torch.Tensor:
        return self.cell.precision

    @property
    def recall(self) -> torch.Tensor:
        return self.cell.recall

    @property
    def precision_valid(self) -> torch.Tensor:
        return self.cell.precision_valid

    @property
    def recall_valid(self) -> torch.Tensor:
        return self.cell.recall_valid

    def levels(self) -> dict[str, PrecisionRecall]:
        """``{"": cell, "time_": time, "feature_": feature}`` for the levels present."""
        out = {"": self.cell}
        if self.time is not None:
            out["time_"] = self.time
        if self.feature is not None:
            out["feature_"] = self.feature
        return out

    def accuracy(self) -> torch.Tensor:
        """Accuracy in percent per fraction, ``(n_d,)`` float64."""
        return self.correct.double().mean(dim=1) * 100.0

    def _inner(self) -> torch.Tensor:
        return (self.fractions > 0) & (self.fractions < 1)

    def summary(self) -> dict[str, float]:
        """Means over samples and the curve summaries of [TSB].

        Keys: ``accuracy_pct@d`` (percent) and ``clean_accuracy_pct``; ``precision@d``,
        ``recall@d`` (means over samples with a defined value, NaN if none) and the same with
        ``time_`` / ``feature_`` prefixes; ``aup``, ``aur`` = trapezoid of mean precision /
        recall over the fractions strictly between 0 and 1 (default 0.1 ... 0.9, so at most
        0.8); ``aupr`` = trapezoid of precision over recall (sorted by recall); the same three
        per level (``time_aup`` ...); ``accuracy_auc`` = trapezoid of accuracy (%) over all
        fractions (default 0 ... 1, at most 100; lower = faster drop).

        Example:
            >>> # result.summary()["aup"]
        """
        f = self.fractions
        acc = self.accuracy()
        out: dict[str, float] = {"clean_accuracy_pct": float(self.clean_correct.double().mean()
                                                             * 100.0)}
        for d, a in zip(f.tolist(), acc.tolist(), strict=True):
            out[f"accuracy_pct@{_fmt(d)}"] = a
        inner = self._inner()
        x = f[inner]
        for prefix, pr in self.levels().items():
            mp, _, _ = mean_se_along(pr.precision, pr.precision_valid)
            mr, _, _ = mean_se_along(pr.recall, pr.recall_valid)
            for d, p, r in zip(f.tolist(), mp.tolist(), mr.tolist(), strict=True):
                out[f"{prefix}precision@{_fmt(d)}"] = p
                out[f"{prefix}recall@{_fmt(d)}"] = r
            out[f"{prefix}aup"] = trapezoid(mp[inner], x)
            out[f"{prefix}aur"] = trapezoid(mr[inner], x)
            out[f"{prefix}aupr"] = _aupr(mp[inner], mr[inner])
        out["accuracy_auc"] = trapezoid(acc, f)
        return out

    def to_rows(self) -> list[tuple[str, str, float]]:
        """Rows ``(metric, statistic, value)`` for the results store.

        Per-fraction metrics (``accuracy_pct@d``, ``precision@d``, ``recall@d`` and their
        ``time_`` / ``feature_`` versions) get ``mean``, ``se`` and ``n`` over samples (``mean``
        and ``se`` only where defined); ``accuracy_auc`` gets ``mean``, ``se``, ``n`` over
        per-sample curves (its mean equals the area under the mean curve); curve summaries of
        means (``aup``, ``aur``, ``aupr`` per level) get ``mean``.
        """
        rows: list[tuple[str, str, float]] = []
        f = self.fractions.tolist()

        def add(metric: str, mean: float, se: float, n: int) -> None:
            rows.extend(summary_rows(metric, mean, se, n))

        add("clean_accuracy_pct", *_scalar_mse(self.clean_correct.double() * 100.0))
        m, s, n = mean_se_along(self.correct.double() * 100.0)
        for i, d in enumerate(f):
            add(f"accuracy_pct@{_fmt(d)}", float(m[i]), float(s[i]), int(n[i]))
        for prefix, pr in self.levels().items():
            for name, vals, valid in (("precision", pr.precision, pr.precision_valid),
                                      ("recall", pr.recall, pr.recall_valid)):
                m, s, n = mean_se_along(vals, valid)
                for i, d in enumerate(f):
                    add(f"{prefix}{name}@{_fmt(d)}", float(m[i]), float(s[i]), int(n[i]))
        per_sample_auc = torch.trapezoid(self.correct.double().T * 100.0, self.fractions, dim=-1)
        add("accuracy_auc", *_scalar_mse(per_sample_auc))
        summary = self.summary()
        for prefix in self.levels():
            for key in ("aup", "aur", "aupr"):
                value = summary[f"{prefix}{key}"]
                if math.isfinite(value):
                    rows.append((f"{prefix}{key}", "mean", value))
        return rows

    def per_sample_arrays(self) -> dict[str, np.ndarray]:
        """The per-sample tensors as NumPy arrays (for storage next to the summary rows).

        Keys: ``fractions``, ``correct``, ``clean_correct`` and, per level prefix ``""``,
        ``time_``, ``feature_``: ``precision``, ``recall``, ``precision_valid``,
        ``recall_valid`` (``(n_d, N)``; NaN = undefined).
        """
        out = {"fractions": self.fractions.numpy(), "correct": self.correct.numpy(),
               "clean_correct": self.clean_correct.numpy()}
        for prefix, pr in self.levels().items():
            out[f"{prefix}precision"] = pr.precision.numpy()
            out[f"{prefix}recall"] = pr.recall.numpy()
            out[f"{prefix}precision_valid"] = pr.precision_valid.numpy()
            out[f"{prefix}recall_valid"] = pr.recall_valid.numpy()
        return out


def _scalar_mse(values: torch.Tensor) -> tuple[float, float, int]:
    m, s, n = mean_se_along(values.flatten(), dim=0)
    return float(m), float(s), int(n)


def _aupr(mean_precision: torch.Tensor, mean_recall: torch.Tensor) -> float:
    """Trapezoid of precision over recall, points sorted by recall (as the reference)."""
    if torch.isnan(mean_precision).any() or torch.isnan(mean_recall).any():
        return math.nan
    order = torch.sort(mean_recall, stable=True).indices
    return trapezoid(mean_precision[order], mean_recall[order])


def evaluate_groundtruth(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    box_mask: torch.Tensor,
    saliency: torch.Tensor,
    background: BackgroundFn,
    fractions: Sequence[float] | torch.Tensor = DEFAULT_FRACTIONS,
    *,
    shared_background: bool | None = None,
    stop_at_zero: bool | None = None,
    full_mask_at_one: bool | None = None,
    reference_quirks: bool = False,
    generator: torch.Generator | int | None = None,
    batch_size: int | None = None,
    rtol: float = 0.0,
    valid: torch.Tensor | None = None,
) -> GroundTruthResult:
    """The full ground-truth evaluation of [TSB] §4.2-4.3 for one model and map set.

    Computes the top-mass selections once (:func:`mass_top_mask`), the masked accuracy
    (:func:`masked_accuracy`, same options) and weighted precision / recall at the cell level
    and, for ``(N, T, F)`` data, at the time and feature level. Per-sample values are kept;
    ``result.summary()`` derives AUP, AUR, AUPR and the accuracy-drop AUC.

    An all-zero map finds nothing: its precision is 0 at every ``d > 0`` and its recall 0 at
    every ``d`` (where its box has cells) at every level, instead of undefined, so it counts
    against the method and AUP / AUR stay defined; one ``UserWarning`` says how many maps were
    all zero (``result.params["all_zero_maps"]``). See the module docstring.

    Args:
        model, x, y, saliency, background, fractions, shared_background, stop_at_zero,
        full_mask_at_one, reference_quirks, generator, batch_size, rtol, valid: as in
            :func:`masked_accuracy`; with ``valid`` only valid cells are ranked, masked and
            counted in precision and recall.
        box_mask: ground-truth informative cells, boolean, ``x``'s shape.

    Example:
        >>> # data = load_synthetic("Middle", "Gaussian"); s = explain(...).attributions
        >>> # res = evaluate_groundtruth(model, data.test.x, data.test.y, data.test.mask,
        >>> #                            s, data.background, generator=0)
        >>> # res.summary()["aup"]
    """
    flags = _quirk_flags(reference_quirks, shared_background, stop_at_zero, full_mask_at_one)
    run = _mass_masking(model, x, y, saliency, background, fractions, flags,
                        generator=generator, batch_size=batch_size, rtol=rtol, valid=valid,
                        box_mask=box_mask)
    sd, ranking = run.saliency, run.ranking
    bd = run.box.to(sd.device)
    if run.cells is not None:  # padding is never in the box
        bd = bd & run.cells

    zero, inner = run.zero, run.fractions.to(sd.device) > 0
    box_any = bd.reshape(bd.shape[0], -1).any(dim=1)
    cell = _zero_maps_find_nothing(ranking.cell_precision_recall(bd), zero, box_any,
                                   inner).to("cpu")
    time_pr = feature_pr = None
    if sd.dim() == 3:
        time_pr = _zero_maps_find_nothing(_level_pr(sd, bd, ranking.level_selected("time"),
                                                    "time"), zero, box_any, inner).to("cpu")
        feature_pr = _zero_maps_find_nothing(_level_pr(sd, bd, ranking.level_selected("feature"),
                                                       "feature"), zero, box_any,
                                             inner).to("cpu")
    seed = generator if isinstance(generator, int) else (
        0 if generator is None else int(run.generator.initial_seed()))
    params = {"fractions": run.fractions.tolist(), **flags,
              "reference_quirks": bool(reference_quirks), "rtol": rtol, "seed": int(seed),
              "precision_level_aggregation": "sum", "all_zero_maps": int(zero.sum()),
              "all_zero_maps_score": "precision and recall 0"}
    return GroundTruthResult(fractions=run.fractions, correct=run.correct.cpu(),
                             clean_correct=run.clean.cpu(), cell=cell, time=time_pr,
                             feature=feature_pr, params=params)


def diff_vs_random(result: GroundTruthResult, random_result: GroundTruthResult) -> dict[str, float]:
    """Diff(AUP), Diff(AUR) of a method against a random-map baseline ([TSB] §5.2).

    Both results must come from the same model, data and fractions. Keys ``diff_aup``,
    ``diff_aur``, ``diff_aupr`` and their ``time_`` / ``feature_`` versions where both results
    have that level.

    Example:
        >>> # diff_vs_random(evaluate_groundtruth(...ig...), evaluate_groundtruth(...random...))
    """
    if not torch.equal(result.fractions, random_result.fractions):
        raise ConfigError("result and random_result must use the same fractions, got "
                          f"{result.fractions.tolist()} and {random_result.fractions.tolist()}")
    if result.correct.shape != random_result.correct.shape:
        raise ShapeError("result and random_result must cover the same samples, got "
                         f"{tuple(result.correct.shape)} and {tuple(random_result.correct.shape)}")
    a, b = result.summary(), random_result.summary()
    out: dict[str, float] = {}
    for prefix in ("", "time_", "feature_"):
        for key in ("aup", "aur", "aupr"):
            name = f"{prefix}{key}"
            if name in a and name in b:
                out[f"diff_{name}"] = a[name] - b[name]
    return out


def groundtruth_scores(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attributions: torch.Tensor,
    *,
    context: MetricContext | None = None,
    fractions: Sequence[float] | torch.Tensor = DEFAULT_FRACTIONS,
    shared_background: bool | None = None,
    stop_at_zero: bool | None = None,
    full_mask_at_one: bool | None = None,
    reference_quirks: bool = False,
    rtol: float = 0.0,
) -> MetricOutput:
    """The [TSB] §4.2-4.3 ground-truth family in the common metric call shape.

    One :func:`evaluate_groundtruth` call with ``context.groundtruth`` (the box),
    ``context.background``, ``context.generator`` (background draws), ``context.batch_size``
    (default: sized by the memory budget) and ``context.valid``. The options are
    :func:`evaluate_groundtruth`'s.

    Returns:
        A :class:`MetricOutput` whose ``rows`` are ``GroundTruthResult.to_rows()`` (AUP, AUR,
        AUPR, the accuracy-drop AUC and the per-fraction curves), whose ``arrays`` are
        ``per_sample_arrays()`` and whose ``result`` is the :class:`GroundTruthResult`; the
        summaries are set-level, so ``per_sample`` is empty.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
        >>> x, y = torch.rand(4, 3, 2), torch.zeros(4, dtype=torch.long)
        >>> box = torch.zeros(4, 3, 2, dtype=torch.bool); box[:, 1] = True
        >>> bg = lambda n, g: torch.rand(n, 3, 2, generator=g)
        >>> ctx = MetricContext(groundtruth=box, background=bg)
        >>> out = groundtruth_scores(model, x, y, torch.rand(4, 3, 2), context=ctx)
        >>> sorted({m for m, _, _ in out.rows} & {"aup", "aur", "aupr", "accuracy_auc"})
        ['accuracy_auc', 'aup', 'aupr', 'aur']
    """
    context = as_context(context)
    check_groundtruth_options(fractions=fractions, shared_background=shared_background,
                              stop_at_zero=stop_at_zero, full_mask_at_one=full_mask_at_one,
                              reference_quirks=reference_quirks, rtol=rtol)
    what = "the known informative cells (N, *sample) of synthetic data"
    box = require(context, "groundtruth", "the ground-truth evaluation [TSB]", what)
    background = require(context, "background", "the ground-truth evaluation [TSB]",
                         "a background sampler background(n, generator) -> (n, *sample)")
    result = evaluate_groundtruth(
        model, x, y, box, attributions, background, fractions,
        shared_background=shared_background, stop_at_zero=stop_at_zero,
        full_mask_at_one=full_mask_at_one, reference_quirks=reference_quirks,
        generator=context.generator, batch_size=batch_size_of(context, None), rtol=rtol,
        valid=context.valid,
    )
    arrays = {k: torch.from_numpy(v) for k, v in result.per_sample_arrays().items()}
    return MetricOutput(per_sample={}, rows=result.to_rows(), arrays=arrays, result=result)


register_metric(Metric(
    "groundtruth", groundtruth_scores, "groundtruth", True,
    "ground-truth evaluation on data with known informative cells: precision and recall of the "
    "top-mass cells against the box, and the accuracy drop when they are replaced by background",
    references=("TSB §4.2", "TSB §4.3"), needs=frozenset({"groundtruth", "background"}),
    modalities=("time_series", "image"),
    outputs={"aup": True, "aur": True, "aupr": True, "accuracy_auc": False},
    seed_offset=7919, check_options=check_groundtruth_options,
    output_descriptions={
        "aup": "area under the weighted precision curve over d = 10..90 % of saliency mass",
        "aur": "area under the weighted recall curve over d = 10..90 % of saliency mass",
        "aupr": "area under weighted precision over recall",
        "accuracy_auc": "area under accuracy (%) when the top-mass cells are replaced by "
                        "background; a faster drop (lower) is better",
    },
))
