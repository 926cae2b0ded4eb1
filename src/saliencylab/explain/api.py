"""``explain()``: one call for every saliency method, on time series, images and text.

Layouts: time series ``(batch, time, features)`` float, images ``(batch, C, H, W)`` float, text
``(batch, tokens)`` integer token ids. For text the attribution is computed on the output of the
model's embedding layer (``embedding_layer=`` or the first ``nn.Embedding``) and summed over the
embedding dim, giving one score per token.

The target selects the one scalar per sample that is explained
(:mod:`saliencylab.explain.selection`): a class of ``(batch, classes)`` logits, a class per time
step of ``(batch, time, classes)`` segmentation logits (summed over the steps, ``-1`` leaves a
step out), the one output of a regression model (``target=None``), or any output by a tuple
index. Ragged series pass ``valid=``, a ``(batch, time)`` mask of valid steps: maps are zero on
padded steps and post-processing statistics use valid cells only.

:func:`explain` resolves the method's effective parameters before anything runs (defaults, the
caller's overrides, values derived from the batch; see :mod:`saliencylab.explain.method`) and
returns them in ``Explanation.params``.

Example:
    >>> import torch
    >>> from saliencylab.explain import explain
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10 * 3, 2))
    >>> x = torch.rand(4, 10, 3)
    >>> e = explain(net, x, target=1, method="integrated_gradients", n_steps=20)
    >>> e.attributions.shape, e.params["baseline"], e.params["seed"]
    (torch.Size([4, 10, 3]), 'uniform', 0)
"""

from __future__ import annotations

import inspect
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from saliencylab.errors import (
    ConfigError,
    InvalidDataError,
    NonFiniteError,
    NotApplicableError,
    SaliencyLabError,
    ShapeError,
    all_finite,
    check_nonfinite,
    nonfinite_counts,
)
from saliencylab.explain.method import Context, Method
from saliencylab.explain.postprocess import Step, expand_steps
from saliencylab.explain.postprocess import postprocess as apply_postprocess
from saliencylab.explain.registry import COMMON_PARAMS, get_method, register_method
from saliencylab.explain.selection import SelectedOutput, TargetLike, resolve_targets
from saliencylab.utils import chunks, eval_mode, rows_per_chunk, submodules
from saliencylab.utils import memory_budget as resolve_budget

__all__ = [
    "EmbeddingInput",
    "Explanation",
    "TargetLike",
    "attribute_fn",
    "check_model_layout",
    "detect_modality",
    "eval_mode",
    "explain",
    "find_embedding",
    "match_model_dtype",
    "nonfinite_parameters",
    "prepare",
    "register_method",
    "resolve_targets",
    "run_prepared",
]


@dataclass
class Explanation:
    """The result of :func:`explain`.

    ``attributions``: the input's shape (text: ``(batch, tokens)``), with a leading target axis
    ``(n_targets, batch, ...)`` when several targets were asked for. ``targets``: the target
    tensors as used (:mod:`saliencylab.explain.selection`): ``(batch,)`` class indices (a tuple
    index or None: the flat index into the output per sample), or ``(batch, time)`` classes per
    step for per-step outputs; with a leading target axis for several targets. ``params``: the
    effective parameters (defaults merged with the call's, resolved sizes, seed, batch_size,
    post-processing, TSR options, whether a ``valid`` mask was given).
    """

    attributions: Tensor
    method: str
    params: dict[str, Any]
    targets: Tensor
    modality: str = "time_series"

    def numpy(self) -> np.ndarray:
        """The attributions as a NumPy array on the CPU."""
        return self.attributions.detach().cpu().numpy()


# ------------------------------------------------------------------------------------------------
# Validation at the boundary


_ID_DTYPES = (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8)


def detect_modality(inputs: Tensor) -> str:
    """``"time_series"`` (3-D float), ``"image"`` (4-D float) or ``"text"`` (2-D integer ids)."""
    if not isinstance(inputs, Tensor):
        raise ShapeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.is_floating_point():
        if inputs.dim() == 3:
            return "time_series"
        if inputs.dim() == 4:
            return "image"
    elif inputs.dtype in _ID_DTYPES and inputs.dim() == 2:
        return "text"
    elif inputs.dtype in _ID_DTYPES or inputs.dtype == torch.bool:
        raise ShapeError(
            f"integer (or bool) inputs are read as token ids (batch, tokens), which are 2-D; got "
            f"{tuple(inputs.shape)} {inputs.dtype}. Time series (batch, time, features) and "
            f"images (batch, C, H, W) must be float: pass inputs.float()"
        )
    raise ShapeError(
        "inputs must be (batch, time, features) float, (batch, C, H, W) float or (batch, tokens) "
        f"integer token ids; got {tuple(inputs.shape)} {inputs.dtype}"
    )


def _model_modality(model: nn.Module) -> str | None:
    """The modality a saliencylab model declares through its ``layout`` (``"(batch, time,
    features)"`` or ``"(batch, channels, height, width)"``), or None for any other module."""
    layout = getattr(type(model), "layout", None)
    if not isinstance(layout, str) or not callable(getattr(model, "check_input", None)):
        return None
    if "height" in layout:
        return "image"
    if "time" in layout:
        return "time_series"
    return None


def check_model_layout(model: nn.Module, inputs: Tensor, modality: str | None = None) -> None:
    """Raise ``ShapeError`` when a saliencylab model (one with a ``layout`` and a
    ``check_input``, e.g. :class:`saliencylab.models.base.TimeSeriesClassifier`) is given
    inputs of another layout, before they are read as the wrong modality; other modules pass.

    Example:
        >>> from saliencylab.models import build_model
        >>> tcn = build_model("tcn", n_features=3, n_time=10, n_classes=2)
        >>> check_model_layout(tcn, torch.rand(4, 1, 10, 3))
        Traceback (most recent call last):
        ...
        saliencylab.errors.ShapeError: the inputs' shape (4, 1, 10, 3) does not match the \
layout of the tcn model, (batch, time, features) = (B, T, 3): it takes 3-D time series, got \
4-D inputs (read as images)
    """
    expected = _model_modality(model)
    if expected is None or not isinstance(inputs, Tensor):
        return
    if modality is None:
        modality = {3: "time_series", 4: "image"}.get(inputs.dim(), f"{inputs.dim()}-D")
    if modality == expected:
        return
    name = getattr(model, "name", "") or type(model).__name__
    layout = type(model).layout
    if expected == "time_series":
        detail = f"{layout} = (B, T, {getattr(model, 'n_features', 'F')}): it takes 3-D time series"
    else:
        detail = f"{layout}: it takes 4-D images"
    read_as = {"image": " (read as images)", "time_series": " (read as time series)",
               "text": " (read as token ids)"}.get(modality, "")
    raise ShapeError(f"the inputs' shape {tuple(inputs.shape)} does not match the layout of the "
                     f"{name} model, {detail}, got {inputs.dim()}-D inputs{read_as}")


def _first_tensors(modules: list[nn.Module]) -> tuple[Tensor | None, torch.dtype | None]:
    """The model's first parameter (else buffer), whose device is the model's, and the dtype of
    its first floating one (else buffer), read from ``modules`` (:func:`submodules`, already
    walked): what ``model.parameters()`` would yield first, without a walk of its own."""
    first: Tensor | None = None
    for kind in ("_parameters", "_buffers"):  # parameters first, as model_device looks
        for module in modules:
            for t in getattr(module, kind).values():
                if t is None:
                    continue
                if first is None:
                    first = t
                if t.is_floating_point():
                    return first, t.dtype
    return first, None


def match_model_dtype(model: nn.Module, x: Tensor, what: str = "inputs",
                      stacklevel: int = 3) -> Tensor:
    """``x`` cast to the floating dtype of the model's parameters, with a one-line warning
    when that changes it (e.g. float64 NumPy data given to a float32 model); unchanged when it
    already matches, is not floating point (token ids) or the model has no float parameters.

    saliencylab casts rather than refuses: the data's values are kept (float16 -> float32 is
    exact; float64 -> float32 rounds to the model's own precision, which is all the model can
    read anyway), and the attributions come back in the model's dtype.

    Example:
        >>> import warnings
        >>> net = torch.nn.Linear(3, 2)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     out = match_model_dtype(net, torch.zeros(1, 3, dtype=torch.float64))
        >>> out.dtype, str(caught[0].message).split(";")[0]
        (torch.float32, 'casting the float64 inputs to float32, the dtype of the model')
    """
    if not isinstance(x, Tensor):
        return x
    return _cast_to(x, _first_tensors(submodules(model))[1], what, stacklevel + 1)


def _cast_to(x: Tensor, dtype: torch.dtype | None, what: str, stacklevel: int) -> Tensor:
    """``x`` cast to the model's float ``dtype`` (None: it has none), with the note of
    :func:`match_model_dtype` when that changes it; non-floating ``x`` (token ids) unchanged."""
    if dtype is None or dtype == x.dtype or not x.is_floating_point():
        return x
    warnings.warn(
        f"casting the {str(x.dtype).removeprefix('torch.')} {what} to "
        f"{str(dtype).removeprefix('torch.')}, the dtype of the model; pass {what} of that dtype "
        "to silence this note", stacklevel=stacklevel,
    )
    return x.to(dtype)


def nonfinite_parameters(model: nn.Module, limit: int = 3) -> str | None:
    """A note naming up to ``limit`` parameters or buffers of ``model`` that hold NaN or inf
    (a checkpoint saved after a diverging step), or None when all are finite."""
    bad = []
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        nan, inf = nonfinite_counts(t.detach())
        if nan or inf:
            bad.append(f"{name} ({nan} NaN, {inf} inf)")
    if not bad:
        return None
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return (f"the model's own parameters are not finite: {', '.join(bad[:limit])}{more} (was "
            "the checkpoint saved after a diverging training step?)")


def _nonfinite_hint(model: nn.Module, default: str) -> str:
    return nonfinite_parameters(model) or default


def _check_device(first: Tensor | None, inputs: Tensor) -> None:
    """``first``: the model's first parameter or buffer (None: a model without either)."""
    if first is not None and first.device != inputs.device:
        raise ConfigError(f"the model is on {first.device} but the inputs are on "
                          f"{inputs.device}; move one of them")


def _check_sample_ids(sample_ids: Any, n: int) -> Tensor | None:
    """``sample_ids`` as a ``(n,)`` CPU long tensor of non-negative ids, or None."""
    if sample_ids is None:
        return None
    ids = torch.as_tensor(sample_ids) if isinstance(sample_ids, Tensor | np.ndarray | list
                                                    | tuple) else None
    if ids is None or ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
        got = ids.dtype if ids is not None else type(sample_ids).__name__
        raise ConfigError(f"sample_ids must be (batch,) integers naming the sample of each "
                          f"input, got {got}")
    if tuple(ids.shape) != (n,):
        raise ShapeError(f"sample_ids must have shape ({n},), one id per input, got "
                         f"{tuple(ids.shape)}")
    ids = ids.detach().long().cpu()
    if n and int(ids.min()) < 0:
        raise ConfigError(f"sample_ids must be non-negative, got {int(ids.min())}")
    return ids


def _check_valid(valid: Any, inputs: Tensor, modality: str) -> Tensor | None:
    """The ``(batch, time)`` bool mask of valid steps on the inputs' device, or None."""
    if valid is None:
        return None
    if modality != "time_series":
        raise NotApplicableError(f"valid= marks the valid time steps of (batch, time, features) "
                                 f"series; got {modality} inputs")
    if not isinstance(valid, Tensor | np.ndarray):
        raise ConfigError(f"valid must be a (batch, time) bool tensor, got {type(valid).__name__}")
    valid = torch.as_tensor(valid)
    if valid.dtype != torch.bool:
        raise ConfigError(f"valid must be a bool tensor (True = a valid time step), got dtype "
                          f"{valid.dtype}")
    if tuple(valid.shape) != tuple(inputs.shape[:2]):
        raise ShapeError(f"valid must have shape (batch, time) = {tuple(inputs.shape[:2])}, got "
                         f"{tuple(valid.shape)}")
    empty = ~valid.any(1)
    if empty.any():
        raise ConfigError(f"valid must mark at least one time step of every sample; sample "
                          f"{int(empty.nonzero()[0])} has none")
    return valid.to(inputs.device)


def find_embedding(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """The embedding layer for text: ``layer`` (module or dotted name) or the first nn.Embedding."""
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as exc:
            raise ConfigError(f"embedding_layer {layer!r} is not a submodule of "
                              f"{type(model).__name__}") from exc
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ConfigError("embedding_layer must be a submodule of the model")
        return layer
    if layer is not None:
        raise ConfigError(
            f"embedding_layer must be a module or its name, got {type(layer).__name__}"
        )
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return m
    raise NotApplicableError(
        f"integer token ids need an embedding layer to attribute to, but {type(model).__name__} "
        "has no nn.Embedding; pass embedding_layer= (a module or its dotted name)"
    )


def _check_token_ids(ids: Tensor, layer: nn.Module) -> None:
    """Token ids outside an ``nn.Embedding``'s vocabulary: ``InvalidDataError`` (torch would
    raise a bare ``IndexError`` from inside the model)."""
    if not isinstance(layer, nn.Embedding) or ids.numel() == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= layer.num_embeddings:
        bad = int(((ids < 0) | (ids >= layer.num_embeddings)).sum())
        raise InvalidDataError(
            f"token ids must lie in [0, {layer.num_embeddings}) (the vocabulary of the model's "
            f"embedding layer); {bad} of {ids.numel()} ids lie outside, from {lo} to {hi}"
        )


class EmbeddingInput(nn.Module):
    """Runs ``model(ids)`` with the embedding layer's output replaced by the given embeddings.

    The token ids travel as an additional forward argument, so Captum expands them alongside
    the embeddings (integrated gradients steps, noise samples, perturbations).
    """

    def __init__(self, model: nn.Module, layer: nn.Module):
        super().__init__()
        self.model = model
        self.layer = layer

    def forward(self, embeddings: Tensor, ids: Tensor) -> Tensor:
        handle = self.layer.register_forward_hook(lambda _m, _i, _o: embeddings)
        try:
            return self.model(ids)
        finally:
            handle.remove()


# Output shape and activation count per sample, by model and per-sample input layout: the probe
# forward pass (and its check that the outputs are finite) runs once per (model, sample shape,
# dtype, device), not once per call. Every call still refuses non-finite explained outputs and
# attributions (run_prepared). A model whose output shape changes in place (a new head) gets a
# stale shape only until resolve_targets or the run fails on it.
_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_probe(model: nn.Module, probe: Tensor, method: str) -> tuple[tuple[int, ...], int]:
    """:func:`_probe`, remembered per model and input layout (TSR chunks, metric batches and
    benchmark loops call ``explain`` many times on one model)."""
    key = (tuple(probe.shape[1:]), probe.dtype, probe.device, type(model))
    try:
        seen = _PROBES.setdefault(model, {})
    except TypeError:  # a module that cannot be weakly referenced
        return _probe(model, probe, method)
    found = seen.get(key)
    if found is None:
        found = seen[key] = _probe(model, probe, method)
    return found


def _probe(model: nn.Module, probe: Tensor, method: str) -> tuple[tuple[int, ...], int]:
    """The model's output shape per sample and the activation elements one sample creates (the
    outputs of its leaf modules), from one forward pass on one sample (whose outputs must be
    finite: ``NonFiniteError`` naming ``method`` otherwise)."""
    counted = [0]

    def count(_module, _inputs, output) -> None:
        outputs = output if isinstance(output, tuple | list) else (output,)
        counted[0] += sum(t.numel() for t in outputs if isinstance(t, Tensor))

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            out = model(probe)
    except SaliencyLabError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ShapeError(f"the model failed on one input of shape {tuple(probe.shape)}: "
                         f"{exc}") from exc
    finally:
        for hook in hooks:
            hook.remove()
    if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ShapeError(f"the model must return one tensor with a batch dim first (logits "
                         f"(batch, classes), (batch, time, classes), or (batch,) values); on "
                         f"one input it returned {got}")
    if not bool(out.isfinite().all()):  # the hint walks the parameters: only on failure
        check_nonfinite(out, "the model's outputs on the first input",
                        _nonfinite_hint(model, "no saliency map of non-finite outputs is defined"),
                        prefix=method)
    return tuple(int(s) for s in out.shape[1:]), int(counted[0]) // max(int(probe.shape[0]), 1)


def _record(value: Any) -> Any:
    """A JSON-friendly stand-in for a parameter value."""
    if isinstance(value, Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, nn.Module):
        return type(value).__name__
    if isinstance(value, Mapping):
        return {str(k): _record(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_record(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)


# ------------------------------------------------------------------------------------------------
# The engine: prepare a method once per call (effective parameters), run it per chunk


@dataclass
class Setup:
    """What one :func:`explain` call fixes for every method it prepares."""

    model: nn.Module
    inner: nn.Module  # the model, or for text the wrapper taking embeddings
    space: Tensor  # the batch in attribution space
    extra: tuple  # forward arguments besides the inputs (the token ids for text)
    modality: str
    seed: int
    batch_size: int | None
    embedding_layer: nn.Module | None
    valid: Tensor | None
    output_shape: tuple[int, ...]
    probe_target: Tensor  # one row of a target tensor, for probing forward passes
    reduce_embedding: bool = True  # text: sum the attributions over the embedding dim
    budget: int | None = None  # elements per chunk (None: saliencylab.utils.memory_budget())
    activations: int = 0  # activation elements one model input creates (its leaf modules' outputs)
    draw_ids: Tensor | None = None  # the caller's sample_ids (CPU long), seeding each row's draws


@dataclass
class Prepared:
    """One method bound to one call: its context with the effective parameters."""

    method: Method
    ctx: Context
    chunk_rows: int | None = None  # rows per chunk (None: the whole batch)

    def params(self) -> dict[str, Any]:
        """The effective parameters, JSON-friendly."""
        return _record(self.ctx.params)


def _user_params(method: Method, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(method.accepted) - set(COMMON_PARAMS))
    if unknown:
        accepted = ", ".join(method.accepted + COMMON_PARAMS) or "none"
        raise ConfigError(f"{method.name} does not take {', '.join(unknown)}; it accepts: "
                          f"{accepted}")
    return {k: v for k, v in params.items() if k not in COMMON_PARAMS}


def prepare(method: Method, setup: Setup, params: dict[str, Any]) -> Prepared:
    """Check ``params`` against ``method`` and resolve its effective parameters for the call
    (the method's ``resolve``); nothing is attributed yet."""
    if setup.modality not in method.applies_to:
        raise NotApplicableError(f"{method.name} does not apply to {setup.modality} inputs; it "
                                 f"applies to {' and '.join(method.applies_to)} inputs")
    user = _user_params(method, params)
    effective = {**method.defaults, **user}
    # A U[0,1) embedding is no reference point: text defaults to the zero embedding.
    if (setup.modality == "text" and "baseline" not in user
            and effective.get("baseline") == "uniform"):
        effective["baseline"] = "zero"
    ctx = Context(
        forward=SelectedOutput(setup.inner), model=setup.model, modality=setup.modality,
        params=effective, seed=setup.seed, n_total=setup.space.shape[0],
        batch_size=setup.batch_size, embedding_layer=setup.embedding_layer,
        output_shape=setup.output_shape, valid=setup.valid, setup=setup,
        budget=setup.budget, sample_numel=int(setup.space[0].numel()),
        activations=setup.activations,
        draw_ids=setup.draw_ids,
    )
    ctx.state["probe_extra"] = (*(e[:1] for e in setup.extra), setup.probe_target)
    if method.resolve is not None:
        try:
            derived = method.resolve(ctx, setup.space)
        except ConfigError as exc:  # name the method in the message of a setting it refused
            if type(exc) is not ConfigError or str(exc).startswith(f"{method.name}:"):
                raise
            raise ConfigError(f"{method.name}: {exc}") from exc
        if derived:
            effective = {**effective, **derived}
    ctx.params = MappingProxyType(effective)
    return Prepared(method, ctx, chunk_rows(method, ctx))


def chunk_rows(method: Method, ctx: Context) -> int | None:
    """Rows per chunk: the caller's ``batch_size``, else as many rows as the memory budget
    allows for the elements one row creates (the method's ``row_elements``: IG's steps, noise
    samples, perturbations per eval, ... times the input size); None (the whole batch) for a
    method that declares no ``row_elements``.

    A method whose rows are model passes (``Method.passes``) pays for the pass, not the input:
    the model's activations (measured once per model) kept for the backward pass, their
    gradients and the backward's temporaries, :data:`GRAD_PASS_COST` floats per activation
    element. An FCN on 150-step series creates 270 activation elements per input element: chunks
    sized by the input alone held 10-100x too many rows, fell out of cache and made IG 3x slower
    per row at 800 x 50 (benchmarks/scaling.py)."""
    if ctx.batch_size is not None or method.row_elements is None:
        return ctx.batch_size
    per_row = method.row_elements(ctx.params, ctx.sample_numel)
    if method.passes and ctx.activations:
        numel = max(ctx.sample_numel, 1)
        per_row = per_row * (numel + GRAD_PASS_COST * ctx.activations) // numel
    return rows_per_chunk(per_row, budget=ctx.budget)


#: Floats the backward pass of one model input keeps and makes per activation element.
GRAD_PASS_COST = 4


def run_prepared(
    prep: Prepared, space: Tensor, target: Tensor, extra: tuple, shape: tuple[int, ...],
    rows: Tensor | None = None,
) -> Tensor:
    """Attributions of one target tensor for ``space`` (chunked), reduced for text and zero on
    padded steps.

    ``extra`` are the forward arguments besides the inputs (token ids); ``rows`` (default
    ``arange``) gives the sample each row stands for: it seeds the per-row random draws and picks
    the row's valid steps (TSR passes the index of the sample a masked copy was made from, so
    R(X) and R(masked X) use the same baseline and noise).
    """
    method, ctx = prep.method, prep.ctx
    n = space.shape[0]
    rows = torch.arange(n) if rows is None else rows.detach().long().cpu()
    forward = ctx.forward if isinstance(ctx.forward, SelectedOutput) else None
    if forward is not None:
        forward.take_counts()  # count this run's forward passes only
    if method.run_all is not None:
        attr = method.run_all(ctx, space, target, extra, rows, shape)
    else:
        full = (*extra, target)
        out = []
        if prep.chunk_rows is None or prep.chunk_rows >= n:  # one chunk: no slicing
            out.append(method.run(ctx, space, target, full, rows).detach())
        else:
            for sl in chunks(n, prep.chunk_rows):
                attr = method.run(ctx, space[sl], target[sl], tuple(e[sl] for e in full),
                                  rows[sl])
                out.append(attr.detach())
        # One chunk needs no concatenated copy; contiguous() copies only a map that is not
        # (expanded, or transposed back from a model's (batch, channels, time)): callers may
        # view() it, as Captum's sensitivity_max does.
        attr = out[0].contiguous() if len(out) == 1 else torch.cat(out)
        if ctx.modality == "text" and ctx.setup.reduce_embedding and attr.dim() == 3:
            attr = attr.sum(-1)
    if forward is not None:
        bad, total = forward.take_counts()
        if bad:
            raise NonFiniteError(
                f"{method.name}: the model returned {bad} non-finite explained outputs (NaN or "
                f"inf) of {total} in its forward passes; "
                + _nonfinite_hint(ctx.model, "no saliency map of non-finite outputs is defined")
            )
    if attr.is_floating_point() and not all_finite(attr):  # the hint only on failure
        check_nonfinite(attr, "the attributions it produced",
                        _nonfinite_hint(ctx.model, "the method's computation overflowed or "
                                                   "divided by zero on these inputs"),
                        prefix=method.name)
    cells = ctx.valid_cells(rows, attr)
    if cells is not None and attr.dim() == 3:
        attr = torch.where(cells, attr, torch.zeros((), dtype=attr.dtype, device=attr.device))
    return attr


def _tsr(
    prep: Prepared, inputs: Tensor, target: Tensor, options: dict[str, Any],
    batch_size: int | None, valid: Tensor | None,
) -> Tensor:
    try:
        from saliencylab.explain.tsr import temporal_saliency_rescaling
    except ImportError as exc:
        raise NotApplicableError(
            "TSR is not available: saliencylab.explain.tsr is missing"
        ) from exc

    def attribute(x: Tensor, t: Tensor, index: Tensor) -> Tensor:
        return run_prepared(prep, x.detach(), t, (), tuple(x.shape), rows=index)

    options = dict(options)
    if "pass_sample_index" in options:
        raise ConfigError("explain(tsr=...) builds its own attribute callable; "
                          "pass_sample_index is not an option here")
    if "valid" in options:
        raise ConfigError("pass valid= to explain itself, not in tsr=...")
    accepted = inspect.signature(temporal_saliency_rescaling).parameters
    unknown = sorted(set(options) - set(accepted) - {"attribute", "inputs", "target"})
    if unknown:
        valid_names = [k for k, p in accepted.items() if p.kind is p.KEYWORD_ONLY]
        raise ConfigError(f"unknown TSR option(s) {', '.join(unknown)}; expected: "
                          f"{', '.join(valid_names)}")
    if options.get("batch_size") is None:
        # Rows of masked copies per attribution call: what the method's memory allows (IG's
        # steps, noise samples, ... times the input size), at most the cache-friendly default.
        from saliencylab.explain.tsr import default_batch_size

        rows = default_batch_size(inputs.shape[1], inputs.shape[2], inputs.device)
        if prep.chunk_rows is not None:
            rows = min(rows, prep.chunk_rows)
        options["batch_size"] = rows
    if "return_details" in options:
        raise ConfigError("explain(tsr=...) returns the TSR map; call "
                          "saliencylab.explain.tsr.temporal_saliency_rescaling for the details")
    return temporal_saliency_rescaling(attribute, inputs, target, pass_sample_index=True,
                                       valid=valid, **options)


def explain(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike = None,
    method: str = "gradient",
    *,
    valid: Tensor | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    postprocess: Step | Sequence[Step] | None = None,
    tsr: bool | dict[str, Any] | None = None,
    memory_budget: int | None = None,
    sample_ids: Tensor | Sequence[int] | None = None,
    **params: Any,
) -> Explanation:
    """Saliency maps of ``model`` for ``inputs`` and ``target`` with ``method``.

    Args:
        model: a module returning logits ``(batch, classes)``, per-step logits ``(batch, time,
            classes)``, one value per sample ``(batch,)`` / ``(batch, 1)``, or any ``(batch,
            ...)`` output; put in eval mode for the call (each submodule's mode is restored).
        inputs: ``(B, T, F)`` / ``(B, C, H, W)`` float or ``(B, L)`` token ids, on the model's
            device; attributions are computed there.
        target: what is explained (:mod:`saliencylab.explain.selection`): an int class or a
            ``(B,)`` tensor of classes; for ``(B, T, C)`` outputs a ``(B, T)`` tensor of a class
            per step (``sum_t logits[b, t, target[b, t]]``; ``-1`` leaves a step out), an int
            or ``(B,)`` classes meaning that class at every step; ``None`` for a model with one
            output per sample; a tuple ``(i, j, ...)`` indexing the output dims after the batch
            (Captum's convention); or a list of those (the attributions get a leading target
            axis).
        method: a name from :data:`saliencylab.explain.registry.METHODS`.
        valid: time series only: a ``(B, T)`` bool mask of the valid time steps of ragged
            series. Maps are exactly zero on padded steps, post-processing statistics use the
            valid cells only, TSR never masks or rescales a padded step, and perturbation
            methods never perturb one (their baseline equals the input there).
        batch_size: at most this many inputs per chunk (None: as many as ``memory_budget``
            allows for what one input creates, e.g. IG's ``n_steps`` copies). Sampling methods
            draw per sample from ``seed``, so the chunking does not change their result
            (``feature_permutation`` excepted: it shuffles across the batch by definition).
        seed: seeds every random draw (baselines, noise, LIME samples, random maps).
        postprocess: a step name, a list of them, or callables; see
            :mod:`saliencylab.explain.postprocess` (``"tsb"`` = abs then per-sample min-max).
        tsr: True or a dict of options: apply Temporal Saliency Rescaling ([TSB] §7) on top of
            ``method`` (time series only).
        memory_budget: input elements one chunk may create (all steps, samples or
            perturbations of its rows); None: :func:`saliencylab.utils.memory_budget` (2**26,
            or ``$SALIENCYLAB_MEMORY_BUDGET``). Ignored where ``batch_size`` is given.
        sample_ids: ``(B,)`` non-negative ints naming the sample each input stands for: every
            random draw of an input (its baseline, noise, LIME / KernelSHAP samples, shuffles)
            is seeded by ``(seed, its id)``. Default ``0 .. B-1``, so an input's draws depend
            on its position in the call; give copies of one sample (perturbed, masked,
            re-explained in chunks) that sample's id and they are made with its draws.
        **params: overrides of the method's defaults (see ``saliencylab methods``), plus
            ``embedding_layer`` (text) and ``reduce_embedding`` (text, default True).

    Returns:
        An :class:`Explanation`.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 3))
        >>> e = explain(net, torch.rand(2, 5, 4), [0, 2], "gradient", postprocess="tsb")
        >>> e.attributions.shape
        torch.Size([2, 2, 5, 4])
        >>> seg = torch.nn.Linear(4, 3)  # per-step logits (batch, time, classes)
        >>> y = torch.tensor([[0, 1, 1, 2, -1], [2, 2, 0, 0, 1]])  # -1: step left out
        >>> explain(seg, torch.rand(2, 5, 4), y, "gradient").attributions.shape
        torch.Size([2, 5, 4])
    """
    info = get_method(method)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modality = detect_modality(inputs)
    if inputs.shape[0] < 1:
        raise ShapeError(f"inputs must hold at least one sample, got shape {tuple(inputs.shape)}")
    check_nonfinite(inputs, "the inputs", "impute or drop the samples with missing values first")
    check_model_layout(model, inputs, modality)
    modules = submodules(model)
    first, dtype = _first_tensors(modules)
    _check_device(first, inputs)
    inputs = _cast_to(inputs, dtype, "inputs", stacklevel=3)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if memory_budget is not None:
        resolve_budget(memory_budget)  # ConfigError on a budget that is not a positive int
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    if tsr and modality != "time_series":
        raise NotApplicableError(f"TSR rescales time steps of (batch, time, features) inputs; "
                                 f"got {modality} inputs")
    if tsr is not None and not isinstance(tsr, bool | dict):
        raise ConfigError(f"tsr must be True, False, None or a dict of options, got {tsr!r}")
    valid_t = _check_valid(valid, inputs, modality)
    draw_ids = _check_sample_ids(sample_ids, inputs.shape[0])
    _user_params(info, params)  # fail fast on a misspelt parameter
    seed = int(seed)
    inputs = inputs.detach()

    with eval_mode(model, modules):
        emb = None
        if modality == "text":
            emb = find_embedding(model, params.get("embedding_layer"))
            _check_token_ids(inputs, emb)
            extra: tuple = (inputs,)
            output_shape, activations = _cached_probe(model, inputs[:1], method)
            with torch.no_grad():
                space = emb(inputs).detach()
            if space.dim() != 3:
                raise ShapeError(f"the embedding layer must return (batch, tokens, dim), got "
                                 f"{tuple(space.shape)}")
        else:
            extra, space = (), inputs
            output_shape, activations = _cached_probe(model, inputs[:1], method)
        targets, several = resolve_targets(target, inputs.shape[0], output_shape, inputs.device)
        reduce_embedding = bool(params.get("reduce_embedding", True))
        setup = Setup(
            model=model, inner=EmbeddingInput(model, emb) if emb is not None else model,
            space=space, extra=extra, modality=modality, seed=seed, batch_size=batch_size,
            embedding_layer=emb, valid=valid_t, output_shape=output_shape,
            probe_target=targets[0][:1], reduce_embedding=reduce_embedding,
            budget=memory_budget, activations=activations,
            draw_ids=draw_ids,
        )
        prep = prepare(info, setup, params)
        keep_dims = modality == "text" and not reduce_embedding
        shape = tuple(space.shape) if keep_dims else tuple(inputs.shape)
        maps = []
        for t in targets:
            if tsr:
                rescaled = _tsr(prep, inputs, t, {} if tsr is True else tsr, batch_size, valid_t)
                check_nonfinite(rescaled, "the TSR map", prefix=method)
                maps.append(rescaled)
            else:
                maps.append(run_prepared(prep, space, t, extra, shape))

    attributions = torch.stack(maps) if several else maps[0]
    steps = expand_steps(postprocess)
    cells = None if valid_t is None else valid_t[..., None]
    attributions = apply_postprocess(attributions, steps, batch_dims=2 if several else 1,
                                     mask=cells)
    recorded: dict[str, Any] = dict(prep.params())
    recorded.update(
        seed=seed, batch_size=batch_size, modality=modality,
        n_classes=output_shape[-1] if 1 <= len(output_shape) <= 2 else None,
        postprocess=[_record(s) for s in steps],
        tsr=None if not tsr else _record({} if tsr is True else tsr),
        valid=valid_t is not None,
    )
    if emb is not None:
        recorded["embedding_layer"] = next(n for n, m in model.named_modules() if m is emb)
        recorded["reduce_embedding"] = reduce_embedding
    return Explanation(
        attributions=attributions, method=method, params=recorded,
        targets=torch.stack(targets) if several else targets[0], modality=modality,
    )


def attribute_fn(
    model: nn.Module, method: str = "gradient", *, batch_size: int | None = None, seed: int = 0,
    memory_budget: int | None = None, **params: Any,
) -> Callable[[Tensor, TargetLike], Tensor]:
    """A batched ``attribute(inputs, target) -> attributions`` callable for ``method``.

    Handy for code that needs attributions of many perturbed inputs (TSR, metrics).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
        >>> attribute = attribute_fn(net, "gradient_x_input")
        >>> attribute(torch.rand(3, 2, 3), 1).shape
        torch.Size([3, 2, 3])
    """

    def attribute(inputs: Tensor, target: TargetLike) -> Tensor:
        return explain(model, inputs, target, method, batch_size=batch_size, seed=seed,
                       memory_budget=memory_budget, **params).attributions

    return attribute
