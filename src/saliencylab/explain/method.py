"""What an explanation method is: one :class:`Method` holds its name, family, needs, reference
defaults, parameter checks and the functions that run it; :class:`Context` is what a method sees
of one :func:`saliencylab.explain.explain` call.

A method runs in three stages, all driven by :func:`saliencylab.explain.explain`:

1. ``resolve(ctx, x) -> dict``, once per call and before anything runs: checks the parameters
   (``ctx.params`` holds the defaults merged with the caller's), returns the parameters it
   derives (a default that depends on the batch, a layer's name, ...) and may put objects built
   once per call in ``ctx.state`` (a baseline distribution, the hooked layer). The returned
   values are merged into the effective parameters, which are then frozen: a run cannot change
   them, and what is recorded in ``Explanation.params`` is what the run used.
2. ``run(ctx, x, target, extra, rows) -> Tensor``, once per chunk of the batch: ``x`` is the
   chunk in attribution space (the inputs, or token embeddings for text), ``extra`` the
   additional forward arguments of ``ctx.forward``, ``rows`` the chunk's row indices in the whole
   call (per-row random draws are seeded from them, so chunking cannot change a result).
   ``ctx.forward(x, *extra)`` returns the explained scalar of every row, shape ``(chunk, 1)``:
   the target has already selected it (:mod:`saliencylab.explain.selection`), so a method calls
   Captum with ``target=0`` and never looks at the model's output shape. ``target`` is the
   chunk's target tensor (``(chunk,)`` output indices, or ``(chunk, T)`` per-step classes) for
   methods that need the label itself (learned masks).
3. or ``run_all(ctx, x, target, extra, rows, shape) -> Tensor`` instead of ``run``, for the random
   controls, which are drawn for the whole call at once.

Chunks: a method that expands the batch internally (IG's steps, noise samples, perturbations)
declares ``row_elements(params, sample_numel) -> int``, the elements one input row creates; the
engine then sizes its chunks with :func:`saliencylab.utils.rows_per_chunk` (the memory budget
divided by that cost) unless the caller gave ``batch_size``; where those rows are model passes
(``passes``, the default) the model's activations count too. Without ``row_elements`` a chunk is
the whole batch (or ``batch_size``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

Family = Literal["gradient", "perturbation", "learned", "random"]
Modality = Literal["time_series", "image", "text"]
ALL_MODALITIES: tuple[Modality, ...] = ("time_series", "image", "text")

RunFn = Callable[["Context", Tensor, Tensor, tuple, Tensor], Tensor]
ResolveFn = Callable[["Context", Tensor], "dict[str, Any] | None"]
RunAllFn = Callable[["Context", Tensor, Tensor, tuple, Tensor, tuple], Tensor]
RowElementsFn = Callable[[Mapping[str, Any], int], int]


@dataclass
class Context:
    """Everything a method sees of one call besides the chunk itself.

    ``forward`` is the module a method differentiates or perturbs: ``forward(x, *extra)``
    returns ``(rows, 1)``, the target's scalar per row (the user's model, for text behind a
    wrapper taking embeddings, behind the target selection). ``model`` is always the user's
    model (where layers are looked up). ``params`` are the effective parameters (read-only once
    resolved). ``n_total`` is the batch size of the whole call, ``output_shape`` the model's
    output shape per sample, ``valid`` the ``(n_total, T)`` mask of valid time steps (None:
    all valid). ``setup`` is the engine's record of the call (to prepare a base method).
    ``budget`` is the per-call memory budget in elements (None: the default of
    :func:`saliencylab.utils.memory_budget`), ``sample_numel`` the elements of one input row in
    attribution space, ``activations`` the activation elements one model input creates.
    :meth:`modules` walks ``model.named_modules()`` once per context, when a method first needs
    it (layer look-ups and hooks; a walk costs ~0.5 µs per module, so a method that needs no
    layer, like Gradient, does not pay it).
    """

    forward: nn.Module
    model: nn.Module
    modality: str
    params: Mapping[str, Any]
    seed: int
    n_total: int
    batch_size: int | None
    state: dict[str, Any] = field(default_factory=dict)
    embedding_layer: nn.Module | None = None
    output_shape: tuple[int, ...] = ()
    valid: Tensor | None = None
    setup: Any = None
    budget: int | None = None
    sample_numel: int = 1
    activations: int = 0
    named_modules: tuple[tuple[str, nn.Module], ...] = ()  # the walk, once made
    draw_ids: Tensor | None = None  # explain(sample_ids=...) as a CPU long tensor, or None

    def draw_keys(self, rows: Tensor) -> Tensor:
        """What seeds the random draws of the chunk's rows: their index in the call, or the
        caller's ``sample_ids`` of those rows (copies of one sample sharing its draws)."""
        return rows if self.draw_ids is None else self.draw_ids[rows.cpu()]

    def modules(self) -> tuple[tuple[str, nn.Module], ...]:
        """The user's model's ``named_modules()``, walked on the first call and kept."""
        if not self.named_modules:
            self.named_modules = tuple(self.model.named_modules())
        return self.named_modules

    def valid_cells(self, rows: Tensor, x: Tensor) -> Tensor | None:
        """``(chunk, T, 1)`` bool: which time steps of the chunk's rows are valid (None when
        every step is; always None for images and text)."""
        if self.valid is None or self.modality != "time_series":
            return None
        return self.valid[rows.to(self.valid.device)].to(x.device)[..., None]


@dataclass(frozen=True)
class Method:
    """One saliency method: what it is, what it needs, its defaults, checks and runner.

    ``needs`` names what the method requires beyond a differentiable model: ``"baseline"`` (a
    reference input), ``"conv_layer"`` (a Conv1d/Conv2d to hook), ``"feature_groups"`` (a
    grouping of input cells), ``"piecewise_linear"`` (only layers with an LRP rule).
    ``options`` are accepted parameters without a default value in ``defaults``. ``sampling``
    tells whether the result depends on the seed. ``references`` are the papers' tags
    ([TSB], [OBJ], [CS]). ``resolve``, ``run`` and ``run_all`` are described in the module doc.
    """

    name: str
    family: Family
    description: str
    needs: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    applies_to: tuple[Modality, ...] = ALL_MODALITIES
    sampling: bool = False
    references: tuple[str, ...] = ()
    run: RunFn | None = field(default=None, compare=False, repr=False)
    resolve: ResolveFn | None = field(default=None, compare=False, repr=False)
    run_all: RunAllFn | None = field(default=None, compare=False, repr=False)
    row_elements: RowElementsFn | None = field(default=None, compare=False, repr=False)
    passes: bool = True  # row_elements counts model passes (their activations add to the cost)

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every parameter name the method accepts."""
        return tuple(self.defaults) + self.options


# The name the registry had before runners lived next to their metadata.
MethodInfo = Method


def _method_prefix(method: str | None) -> str:
    return f"{method}: " if method else ""


def positive_int(params: Mapping[str, Any], name: str, *, allow_none: bool = False,
                 method: str | None = None, maximum: int | None = None) -> None:
    """Raise ``ConfigError`` unless ``params[name]`` is a positive int (``>= 1``, at most
    ``maximum`` when given) or None if allowed; the message names the setting, its value and
    the valid range (prefixed by ``method`` when given)."""
    from saliencylab.errors import ConfigError

    value = params.get(name)
    if value is None and allow_none:
        return
    ok = not isinstance(value, bool) and isinstance(value, int) and value >= 1
    if ok and (maximum is None or value <= maximum):
        return
    valid = "an int >= 1" if maximum is None else f"an int in [1, {maximum}]"
    if allow_none:
        valid += " or None"
    raise ConfigError(f"{_method_prefix(method)}{name} must be {valid}, got {value!r}")


def non_negative_number(params: Mapping[str, Any], name: str, *,
                        method: str | None = None) -> None:
    """Raise ``ConfigError`` unless ``params[name]`` is a finite number >= 0."""
    from saliencylab.errors import ConfigError

    value = params.get(name)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (0 <= float(value) < float("inf")):
        raise ConfigError(f"{_method_prefix(method)}{name} must be a finite number >= 0, got "
                          f"{value!r}")


def positive_number(params: Mapping[str, Any], name: str, *, method: str | None = None) -> None:
    """Raise ``ConfigError`` unless ``params[name]`` is a finite number > 0."""
    from saliencylab.errors import ConfigError

    value = params.get(name)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (0 < float(value) < float("inf")):
        raise ConfigError(f"{_method_prefix(method)}{name} must be a finite number > 0, got "
                          f"{value!r}")


def boolean(params: Mapping[str, Any], name: str, *, method: str | None = None) -> None:
    """Raise ``ConfigError`` unless ``params[name]`` is True or False (a string such as
    ``"false"`` would otherwise count as true)."""
    from saliencylab.errors import ConfigError

    value = params.get(name)
    if not isinstance(value, bool):
        raise ConfigError(f"{_method_prefix(method)}{name} must be True or False, got "
                          f"{value!r}")


def one_of(params: Mapping[str, Any], name: str, choices: tuple[Any, ...], *,
           method: str | None = None) -> None:
    """Raise ``ConfigError`` unless ``params[name]`` is one of ``choices``."""
    from saliencylab.errors import ConfigError

    value = params.get(name)
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        raise ConfigError(f"{_method_prefix(method)}{name} must be one of "
                          f"{', '.join(map(repr, choices))}, got {value!r}")


__all__ = [
    "ALL_MODALITIES",
    "Context",
    "Family",
    "Method",
    "MethodInfo",
    "Modality",
    "ResolveFn",
    "RowElementsFn",
    "RunAllFn",
    "RunFn",
    "boolean",
    "non_negative_number",
    "one_of",
    "positive_int",
    "positive_number",
]
