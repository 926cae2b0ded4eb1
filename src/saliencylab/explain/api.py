"""``explain()``: one call for every saliency method, on time series, images and text.

Layouts: time series ``(batch, time, features)`` float, images ``(batch, C, H, W)`` float, text
``(batch, tokens)`` integer token ids. For text the attribution is computed on the output of the
model's embedding layer (``embedding_layer=`` or the first ``nn.Embedding``) and summed over the
embedding dim, giving one score per token. The model must return logits ``(batch, classes)``.

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

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, NotApplicableError, SaliencyLabError, ShapeError
from saliencylab.explain.adapters import ADAPTERS, Adapter, Context, PrepareFn, RunFn
from saliencylab.explain.baselines import permute_features, random_map
from saliencylab.explain.postprocess import Step, expand_steps
from saliencylab.explain.postprocess import postprocess as apply_postprocess
from saliencylab.explain.registry import COMMON_PARAMS, METHODS, MethodInfo, get_method
from saliencylab.utils import check_finite, chunks

TargetLike = int | Tensor | np.ndarray | Sequence[int | Tensor | np.ndarray]


@dataclass
class Explanation:
    """The result of :func:`explain`.

    ``attributions``: the input's shape (text: ``(batch, tokens)``), with a leading target axis
    ``(n_targets, batch, ...)`` when several targets were asked for. ``targets``: ``(batch,)`` or
    ``(n_targets, batch)`` class indices. ``params``: the effective parameters (defaults merged
    with the call's, resolved sizes, seed, batch_size, post-processing, TSR options).
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
    raise ShapeError(
        "inputs must be (batch, time, features) float, (batch, C, H, W) float or (batch, tokens) "
        f"integer token ids; got {tuple(inputs.shape)} {inputs.dtype}"
    )


def _check_device(model: nn.Module, inputs: Tensor) -> None:
    param = next(iter(model.parameters()), None)
    if param is not None and param.device != inputs.device:
        raise ConfigError(f"the model is on {param.device} but the inputs are on {inputs.device}; "
                          "move one of them")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode and restore each one's own mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _one_target(t: Any, n: int, n_classes: int, device: torch.device) -> Tensor:
    if isinstance(t, bool):
        raise ConfigError(f"target must be a class index, got {t!r}")
    if isinstance(t, int | np.integer):
        out = torch.full((n,), int(t), dtype=torch.long)
    elif isinstance(t, Tensor | np.ndarray):
        out = torch.as_tensor(t)
        if out.is_floating_point() or out.dtype == torch.bool:
            raise ConfigError(f"target must hold integer class indices, got dtype {out.dtype}")
        if out.dim() == 0:
            out = out.expand(n)
        if out.shape != (n,):
            raise ShapeError(f"target must be an int or a ({n},) tensor of class indices, got "
                             f"shape {tuple(out.shape)}")
        out = out.long()
    else:
        raise ConfigError(f"target must be an int, a (batch,) tensor or a list of those, got "
                          f"{type(t).__name__}")
    bad = (out < 0) | (out >= n_classes)
    if bad.any():
        raise ConfigError(f"target must be a class index in [0, {n_classes}) (the model returns "
                          f"{n_classes} logits); got {out[bad][0].item()}")
    return out.to(device)


def resolve_targets(
    target: TargetLike, n: int, n_classes: int, device: torch.device
) -> tuple[list[Tensor], bool]:
    """``(list of (n,) class tensors, several?)``; a list or tuple means several targets."""
    if isinstance(target, list | tuple):
        if not target:
            raise ConfigError("target list is empty")
        return [_one_target(t, n, n_classes, device) for t in target], True
    return [_one_target(target, n, n_classes, device)], False


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


def _probe(forward: nn.Module, probe: tuple) -> int:
    """Number of classes: the model's ``n_classes`` attribute (saliencylab models carry one),
    else one forward pass on one sample."""
    declared = getattr(forward, "n_classes", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared
    try:
        with torch.no_grad():
            out = forward(*probe)
    except SaliencyLabError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ShapeError(f"the model failed on one input of shape {tuple(probe[0].shape)}: "
                         f"{exc}") from exc
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ShapeError(f"the model must return logits of shape (batch, classes); on one input "
                         f"it returned {got}")
    return int(out.shape[1])


def _record(value: Any) -> Any:
    """A JSON-friendly stand-in for a parameter value."""
    if isinstance(value, Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, nn.Module):
        return type(value).__name__
    if isinstance(value, dict):
        return {str(k): _record(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_record(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)


# ------------------------------------------------------------------------------------------------
# The engine


@dataclass
class _Prepared:
    """One method bound to one model and batch: call it on (inputs, targets)."""

    info: MethodInfo
    ctx: Context | None
    modality: str
    reduce_embedding: bool
    base: _Prepared | None = None

    def params(self) -> dict[str, Any]:
        if self.info.name == "feature_permuted_random" and self.base is not None:
            return {"base_method": self.base.info.name, "base_params": self.base.params()}
        return _record(self.ctx.params) if self.ctx is not None else {}


def _user_params(info: MethodInfo, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(info.accepted) - set(COMMON_PARAMS))
    if unknown:
        accepted = ", ".join(info.accepted + COMMON_PARAMS) or "none"
        raise ConfigError(f"{info.name} does not take {', '.join(unknown)}; it accepts: {accepted}")
    return {k: v for k, v in params.items() if k not in COMMON_PARAMS}


def _prepare(
    model: nn.Module, space: Tensor, extra: tuple, modality: str, method: str,
    params: dict[str, Any], seed: int, batch_size: int | None, emb: nn.Module | None,
    reduce_embedding: bool,
) -> _Prepared:
    info = get_method(method)
    user = _user_params(info, params)
    if info.family == "random":
        base = None
        if info.name == "feature_permuted_random":
            base_name = user.get("base_method", info.defaults["base_method"])
            if get_method(base_name).family == "random":
                raise ConfigError(f"base_method must be a real method, got {base_name!r}")
            base = _prepare(model, space, extra, modality, base_name,
                            dict(user.get("base_params") or {}), seed, batch_size, emb,
                            reduce_embedding)
        return _Prepared(info, None, modality, reduce_embedding, base)

    effective = {**info.defaults, **user}
    # A U[0,1) embedding is no reference point: text defaults to the zero embedding.
    if modality == "text" and "baseline" not in user and effective.get("baseline") == "uniform":
        effective["baseline"] = "zero"
    forward = EmbeddingInput(model, emb) if emb is not None else model
    ctx = Context(forward=forward, model=model, modality=modality, params=effective, seed=seed,
                  n_total=space.shape[0], batch_size=batch_size, embedding_layer=emb)
    ctx.state["probe_extra"] = tuple(e[:1] for e in extra)
    adapter = ADAPTERS[info.name]
    if adapter.prepare is not None:
        adapter.prepare(ctx, space)
    return _Prepared(info, ctx, modality, reduce_embedding)


def _run(
    prep: _Prepared, space: Tensor, target: Tensor, extra: tuple, shape: tuple[int, ...],
    seed: int, rows: Tensor | None = None,
) -> Tensor:
    """Attributions of one target for ``space`` (chunked), reduced for text.

    ``rows`` (default ``arange``) gives the sample each row stands for; it seeds the per-row
    random draws (TSR passes the index of the sample a masked copy was made from, so R(X) and
    R(masked X) use the same baseline and noise).
    """
    info = prep.info
    if info.name == "random":
        return random_map(shape, seed, space.device).to(space.dtype)
    if info.name == "feature_permuted_random":
        base = _run(prep.base, space, target, extra, shape, seed, rows)
        return permute_features(base, seed, prep.modality)
    ctx = prep.ctx
    n = space.shape[0]
    rows = torch.arange(n) if rows is None else rows.detach().long().cpu()
    run = ADAPTERS[info.name].run
    out = []
    with warnings.catch_warnings():
        # Captum notes that it set requires_grad on our (detached) inputs: expected, not news.
        warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
        for sl in chunks(n, ctx.batch_size):
            attr = run(ctx, space[sl], target[sl], tuple(e[sl] for e in extra), rows[sl])
            out.append(attr.detach())
    attr = torch.cat(out)
    if prep.modality == "text" and prep.reduce_embedding and attr.dim() == 3:
        attr = attr.sum(-1)
    return attr


def _tsr(
    prep: _Prepared, inputs: Tensor, target: Tensor, options: dict[str, Any],
    batch_size: int | None, seed: int,
) -> Tensor:
    try:
        from saliencylab.explain.tsr import temporal_saliency_rescaling
    except ImportError as exc:
        raise NotApplicableError(
            "TSR is not available: saliencylab.explain.tsr is missing"
        ) from exc

    def attribute(x: Tensor, t: Tensor | int, index: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=x.device).long().expand(x.shape[0]).contiguous()
        return _run(prep, x.detach(), t, (), tuple(x.shape), seed, rows=index)

    options = dict(options)
    if "pass_sample_index" in options:
        raise ConfigError("explain(tsr=...) builds its own attribute callable; "
                          "pass_sample_index is not an option here")
    accepted = inspect.signature(temporal_saliency_rescaling).parameters
    unknown = sorted(set(options) - set(accepted) - {"attribute", "inputs", "target"})
    if unknown:
        valid = [k for k, p in accepted.items() if p.kind is p.KEYWORD_ONLY]
        raise ConfigError(f"unknown TSR option(s) {', '.join(unknown)}; expected: "
                          f"{', '.join(valid)}")
    if "batch_size" in accepted:
        options.setdefault("batch_size", batch_size)
    if "return_details" in options:
        raise ConfigError("explain(tsr=...) returns the TSR map; call "
                          "saliencylab.explain.tsr.temporal_saliency_rescaling for the details")
    return temporal_saliency_rescaling(attribute, inputs, target, pass_sample_index=True,
                                       **options)


def explain(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike,
    method: str = "gradient",
    *,
    batch_size: int | None = None,
    seed: int = 0,
    postprocess: Step | Sequence[Step] | None = None,
    tsr: bool | dict[str, Any] | None = None,
    **params: Any,
) -> Explanation:
    """Saliency maps of ``model`` for ``inputs`` and ``target`` with ``method``.

    Args:
        model: a module returning logits ``(batch, classes)``; put in eval mode for the call
            (each submodule's mode is restored afterwards).
        inputs: ``(B, T, F)`` / ``(B, C, H, W)`` float or ``(B, L)`` token ids, on the model's
            device; attributions are computed there.
        target: an int, a ``(B,)`` tensor of class indices, or a list of those (then the
            attributions get a leading target axis).
        method: a name from :data:`saliencylab.explain.registry.METHODS`.
        batch_size: at most this many inputs per chunk (None: all at once). Sampling methods
            draw per sample from ``seed``, so the chunking does not change their result
            (``feature_permutation`` excepted: it shuffles across the batch by definition).
        seed: seeds every random draw (baselines, noise, LIME samples, random maps).
        postprocess: a step name, a list of them, or callables; see
            :mod:`saliencylab.explain.postprocess` (``"tsb"`` = abs then per-sample min-max).
        tsr: True or a dict of options: apply Temporal Saliency Rescaling ([TSB]) on top of
            ``method`` (time series only).
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
    """
    info = get_method(method)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modality = detect_modality(inputs)
    if inputs.shape[0] < 1:
        raise ShapeError(f"inputs must hold at least one sample, got shape {tuple(inputs.shape)}")
    check_finite(inputs, "inputs")
    _check_device(model, inputs)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    if tsr and modality != "time_series":
        raise NotApplicableError(f"TSR rescales time steps of (batch, time, features) inputs; "
                                 f"got {modality} inputs")
    if tsr is not None and not isinstance(tsr, bool | dict):
        raise ConfigError(f"tsr must be True, False, None or a dict of options, got {tsr!r}")
    _user_params(info, params)  # fail fast on a misspelt parameter
    seed = int(seed)
    inputs = inputs.detach()

    with eval_mode(model):
        emb = None
        if modality == "text":
            emb = find_embedding(model, params.get("embedding_layer"))
            extra: tuple = (inputs,)
            n_classes = _probe(model, (inputs[:1],))
            with torch.no_grad():
                space = emb(inputs).detach()
            if space.dim() != 3:
                raise ShapeError(f"the embedding layer must return (batch, tokens, dim), got "
                                 f"{tuple(space.shape)}")
        else:
            extra, space = (), inputs
            n_classes = _probe(model, (inputs[:1],))
        targets, several = resolve_targets(target, inputs.shape[0], n_classes, inputs.device)
        reduce_embedding = bool(params.get("reduce_embedding", True))
        prep = _prepare(model, space, extra, modality, method, params, seed, batch_size, emb,
                        reduce_embedding)
        keep_dims = modality == "text" and not reduce_embedding
        shape = tuple(space.shape) if keep_dims else tuple(inputs.shape)
        maps = []
        for t in targets:
            if tsr:
                maps.append(_tsr(prep, inputs, t, {} if tsr is True else tsr, batch_size, seed))
            else:
                maps.append(_run(prep, space, t, extra, shape, seed))

    attributions = torch.stack(maps) if several else maps[0]
    steps = expand_steps(postprocess)
    attributions = apply_postprocess(attributions, steps, batch_dims=2 if several else 1)
    recorded: dict[str, Any] = dict(prep.params())
    recorded.update(
        seed=seed, batch_size=batch_size, modality=modality, n_classes=n_classes,
        postprocess=[_record(s) for s in steps],
        tsr=None if not tsr else _record({} if tsr is True else tsr),
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
    **params: Any,
) -> Callable[[Tensor, Tensor | int], Tensor]:
    """A batched ``attribute(inputs, target) -> attributions`` callable for ``method``.

    Handy for code that needs attributions of many perturbed inputs (TSR, metrics).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
        >>> attribute = attribute_fn(net, "gradient_x_input")
        >>> attribute(torch.rand(3, 2, 3), 1).shape
        torch.Size([3, 2, 3])
    """

    def attribute(inputs: Tensor, target: Tensor | int) -> Tensor:
        return explain(model, inputs, target, method, batch_size=batch_size, seed=seed,
                       **params).attributions

    return attribute


def register_method(
    info: MethodInfo, run: RunFn, prepare: PrepareFn | None = None, *, replace: bool = False
) -> None:
    """Make a new method available to :func:`explain` (e.g. a learned mask).

    ``run(ctx, x, target, extra, rows) -> Tensor`` handles one chunk (see
    :mod:`saliencylab.explain.adapters`); ``prepare(ctx, x)`` runs once per call. The method's
    parameters are ``info.defaults`` (overridable) and ``info.options``.

    Example:
        >>> import torch
        >>> def run(ctx, x, target, extra, rows):
        ...     return x.abs()
        >>> register_method(MethodInfo("magnitude", "gradient", "|x|"), run, replace=True)
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
        >>> explain(net, -torch.ones(1, 2, 3), 0, "magnitude").attributions.sum().item()
        6.0
        >>> _ = METHODS.pop("magnitude"), ADAPTERS.pop("magnitude")  # leave the registry as it was
    """
    if info.name in METHODS and not replace:
        raise ConfigError(f"method {info.name!r} is already registered (pass replace=True)")
    if info.family == "random":
        raise ConfigError("random-family methods are built in; register a real method instead")
    METHODS[info.name] = info
    ADAPTERS[info.name] = Adapter(run, prepare)
