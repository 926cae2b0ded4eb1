"""Masking functions of saliency guided training ([SGT] Ismail, Corrada Bravo, Feizi, NeurIPS 2021).

Saliency guided training replaces the k lowest-saliency features of each training input before a
second forward pass. A *masking function* decides what goes in their place. The contract:

    ``mask(x, where, generator) -> x_masked``

- ``x``: one batch — time series ``(B, T, F)`` float, images ``(B, C, H, W)`` float, or text
  token ids ``(B, L)`` integer.
- ``where``: a bool tensor that broadcasts to ``x``, ``True`` = replace: ``(B, T, F)`` for time
  series, ``(B, 1, H, W)`` for images (one choice per pixel, shared by all channels), ``(B, L)``
  for text. The built-in functions also accept ``(B, k)`` integer indices into the flattened
  units of one sample (cells, pixels or tokens); :func:`as_bool_mask` converts them.
- ``generator``: a ``torch.Generator`` for every random draw (same seed, same numbers).
- returns a new tensor of ``x``'s shape, dtype and device; ``x`` is never modified, and entries
  where ``where`` is ``False`` are returned unchanged.

Built-ins (the options of [SGT]; registry :data:`MASKING_FUNCTIONS`, factory
:func:`get_masking`):

==================  ===============================================================================
``random_in_range``  time series / images: a uniform random value within the feature's (channel's)
                     range — [SGT]'s time-series and image masking.
``remove``           text: drop the masked tokens, shift the rest left, pad the end.
``unk``, ``sep``     text: replace by the ``[UNK]`` / ``[SEP]`` token id.
``random_word``      text: a uniformly random vocabulary id.
``previous_word``    text: copy the nearest preceding unmasked (high-saliency) token — the best
                     text masking in [SGT].
==================  ===============================================================================

Any callable with the signature above can be passed to
:class:`saliencylab.train.saliency_guided.SaliencyGuided` instead.

Example:
    >>> import torch
    >>> from saliencylab.train.masking import PreviousToken
    >>> ids = torch.tensor([[5, 6, 7, 8]])
    >>> where = torch.tensor([[False, True, True, False]])
    >>> PreviousToken()(ids, where, torch.Generator().manual_seed(0))
    tensor([[5, 5, 5, 8]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError, UnknownNameError


@runtime_checkable
class MaskingFunction(Protocol):
    """``mask(x, where, generator) -> x_masked``; see the module docstring for the contract."""

    def __call__(
        self, x: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor: ...


# ----------------------------------------------------------------------------------------------
# helpers


def unit_shape(x: torch.Tensor) -> tuple[int, ...]:
    """Shape of the per-sample units saliency guided training ranks, with the batch dimension.

    Images ``(B, C, H, W)`` -> ``(B, 1, H, W)`` (pixels); text ids ``(B, L)`` -> ``(B, L)``;
    any other float input (time series ``(B, T, F)``, tabular ``(B, F)``) -> ``x.shape`` (cells).
    """
    if x.dim() < 2:
        raise ShapeError(
            f"expected a batch with at least 2 dims (batch, ...), got {tuple(x.shape)}"
        )
    if x.is_floating_point() and x.dim() == 4:
        return (x.shape[0], 1, x.shape[2], x.shape[3])
    return tuple(x.shape)


def as_bool_mask(x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Turn ``where`` (bool mask or ``(B, k)`` flat unit indices) into a bool mask for ``x``.

    The result has :func:`unit_shape` of ``x`` when indices are given; a bool mask is checked to
    broadcast to ``x`` and returned as is.

    Example:
        >>> x = torch.zeros(1, 2, 3)
        >>> as_bool_mask(x, torch.tensor([[0, 4]])).int()
        tensor([[[1, 0, 0],
                 [0, 1, 0]]], dtype=torch.int32)
    """
    if not isinstance(where, torch.Tensor):
        raise ShapeError(f"where must be a tensor (bool mask or long indices), got {type(where)}")
    if where.dtype == torch.bool:
        try:
            shape = torch.broadcast_shapes(where.shape, x.shape)
        except RuntimeError as exc:
            raise ShapeError(
                f"mask of shape {tuple(where.shape)} does not broadcast to input "
                f"{tuple(x.shape)}"
            ) from exc
        if shape != x.shape:
            raise ShapeError(
                f"mask of shape {tuple(where.shape)} would enlarge input {tuple(x.shape)}"
            )
        return where.to(x.device)
    if where.is_floating_point() or where.is_complex():
        raise ShapeError(f"where must be bool or integer indices, got dtype {where.dtype}")
    shape = unit_shape(x)
    n_units = 1
    for s in shape[1:]:
        n_units *= s
    if where.dim() != 2 or where.shape[0] != x.shape[0]:
        raise ShapeError(
            f"index form of where must be (batch, k) = ({x.shape[0]}, k), got {tuple(where.shape)}"
        )
    if where.numel() and (int(where.min()) < 0 or int(where.max()) >= n_units):
        raise ShapeError(f"indices must lie in [0, {n_units}), got [{where.min()}, {where.max()}]")
    flat = torch.zeros(x.shape[0], n_units, dtype=torch.bool, device=x.device)
    flat.scatter_(1, where.to(x.device, torch.long), True)
    return flat.view(shape)


def _uniform(shape: Sequence[int], generator: torch.Generator | None, like: torch.Tensor):
    """U[0, 1) of ``shape`` on ``like``'s device, drawn from ``generator`` wherever it lives."""
    gen_device = generator.device if generator is not None else like.device
    u = torch.rand(tuple(shape), generator=generator, device=gen_device, dtype=like.dtype)
    return u.to(like.device)


def _check_ids(x: torch.Tensor, name: str) -> None:
    if x.is_floating_point() or x.dim() != 2:
        raise ShapeError(
            f"{name} masks text token ids of shape (batch, tokens) with an integer dtype, "
            f"got {tuple(x.shape)} {x.dtype}"
        )


def _token_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer token id, got {value!r}")
    return int(value)


def feature_range(
    x: torch.Tensor, feature_dim: int = -1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature ``(min, max)`` of ``x`` over every dimension except ``feature_dim``.

    Use it on the training data to fix the masking range of :class:`RandomInRange`
    (``feature_dim=-1`` for time series ``(N, T, F)``, ``1`` for images ``(N, C, H, W)``).

    Example:
        >>> lo, hi = feature_range(torch.tensor([[[0.0, 5.0], [2.0, 1.0]]]))
        >>> lo, hi
        (tensor([0., 1.]), tensor([2., 5.]))
    """
    if not x.is_floating_point():
        raise ShapeError(f"feature_range needs float data, got {x.dtype}")
    dim = feature_dim % x.dim()
    if x.numel() == 0:
        raise ShapeError(
            f"feature_range needs at least one value per feature, got {tuple(x.shape)}"
        )
    if dim == x.dim() - 1:
        # features last (time series): one pass over the data, no transposed copy
        lo, hi = x.reshape(-1, x.shape[dim]).aminmax(dim=0)
        return lo, hi
    moved = x.movedim(dim, 0).reshape(x.shape[dim], -1)
    return moved.amin(1), moved.amax(1)


# ----------------------------------------------------------------------------------------------
# time series and images


class RandomInRange:
    """Replace each masked value by a uniform draw from its feature's range [SGT].

    Time series ``(B, T, F)``: the range of feature ``f`` is ``[min, max]`` of that feature; images
    ``(B, C, H, W)``: of that channel, each channel drawn independently at the same pixel positions
    (``where`` is ``(B, 1, H, W)``). The value is ``lo + (hi - lo) * U``, ``U ~ U[0, 1)``.

    Args:
        feature_range: a fixed ``(lo, hi)`` pair, each a scalar or a tensor with one entry per
            feature (channel) — e.g. :func:`feature_range` of the training data, so that every
            batch draws from the same range. ``None`` (default): min/max over the current batch
            (all samples and time steps / pixels), which is what a trainer sees without the data.
        feature_dim: the feature (channel) axis; ``None`` = ``1`` for 4-d image batches, else -1.
        scope: ``"feature"`` (default, [SGT] §3: a value within that feature's range) or
            ``"sample"``: the range is min/max over all values of one sample, as the authors'
            image code does (``feature_range`` must then be ``None``).

    Example:
        >>> x = torch.tensor([[[0.0, 10.0], [1.0, 20.0]]])
        >>> where = torch.tensor([[[True, False], [False, True]]])
        >>> out = RandomInRange()(x, where, torch.Generator().manual_seed(0))
        >>> bool(0 <= out[0, 0, 0] <= 1) and bool(10 <= out[0, 1, 1] <= 20)
        True
    """

    name = "random_in_range"

    def __init__(
        self,
        feature_range: tuple[Any, Any] | None = None,
        feature_dim: int | None = None,
        scope: str = "feature",
    ):
        if scope not in ("feature", "sample"):
            raise ConfigError(f"scope must be 'feature' or 'sample', got {scope!r}")
        if feature_range is not None:
            if scope == "sample":
                raise ConfigError("a fixed feature_range cannot be used with scope='sample'")
            if not isinstance(feature_range, tuple | list) or len(feature_range) != 2:
                raise ConfigError(
                    f"feature_range must be a (lo, hi) pair, got {type(feature_range).__name__}"
                )
            lo, hi = (torch.as_tensor(v, dtype=torch.float32) for v in feature_range)
            if lo.dim() > 1 or hi.dim() > 1:
                raise ConfigError(
                    f"feature_range lo/hi must be scalars or 1-d (one per feature), got shapes "
                    f"{tuple(lo.shape)} and {tuple(hi.shape)}"
                )
            if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
                raise InvalidDataError("feature_range must be finite")
            if (lo > hi).any():
                raise ConfigError("feature_range needs lo <= hi for every feature")
            feature_range = (lo, hi)
        self.feature_range = feature_range
        self.feature_dim = feature_dim
        self.scope = scope

    def _dim(self, x: torch.Tensor) -> int:
        if self.feature_dim is not None:
            return self.feature_dim % x.dim()
        return 1 if x.dim() == 4 else x.dim() - 1

    def _bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``lo``, ``hi`` shaped to broadcast against ``x``."""
        if self.scope == "sample":
            flat = x.detach().reshape(x.shape[0], -1)
            view = (x.shape[0],) + (1,) * (x.dim() - 1)
            return flat.amin(1).view(view), flat.amax(1).view(view)
        dim = self._dim(x)
        view = [1] * x.dim()
        view[dim] = x.shape[dim]
        if self.feature_range is None:
            lo, hi = feature_range(x.detach(), dim)
        else:
            lo, hi = (v.to(x.device, x.dtype) for v in self.feature_range)
            if lo.dim() == 1 and lo.numel() not in (1, x.shape[dim]) or (
                hi.dim() == 1 and hi.numel() not in (1, x.shape[dim])
            ):
                raise ShapeError(
                    f"feature_range has {lo.numel()} entries but the input has {x.shape[dim]} "
                    f"features along dim {dim}"
                )
            lo, hi = lo.expand(x.shape[dim]), hi.expand(x.shape[dim])
        return lo.view(view), hi.view(view)

    def __call__(
        self, x: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if not x.is_floating_point():
            raise ShapeError(
                f"random_in_range masks float inputs (time series, images), got {x.dtype}; "
                "for token ids use remove, unk, sep, random_word or previous_word"
            )
        where = as_bool_mask(x, where)
        lo, hi = self._bounds(x)
        values = _uniform(x.shape, generator, x).mul_(hi - lo).add_(lo)
        # lerp with a 0/1 weight returns start/end exactly (finite inputs) and is ~4x faster than
        # torch.where on CPU
        return torch.lerp(x, values, where.to(x.dtype))

    def params(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fixed_range": self.feature_range is not None,
            "feature_dim": self.feature_dim,
            "scope": self.scope,
        }


# ----------------------------------------------------------------------------------------------
# text (token ids)


class RemoveTokens:
    """Delete the masked tokens: the kept ones move left in order, the end is padded [SGT].

    The sequence keeps its length ``L``; a row with ``m`` masked tokens ends in ``m`` ``pad_id``.

    Example:
        >>> ids = torch.tensor([[5, 6, 7, 8]])
        >>> RemoveTokens(pad_id=0)(ids, torch.tensor([[False, True, False, True]]), None)
        tensor([[5, 7, 0, 0]])
    """

    name = "remove"

    def __init__(self, pad_id: int = 0):
        self.pad_id = _token_id(pad_id, "pad_id")

    def __call__(
        self, x: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_ids(x, self.name)
        where = as_bool_mask(x, where).expand_as(x)
        # A stable sort on the 0/1 flag puts kept tokens first, in their original order.
        order = torch.sort(where.to(torch.uint8), dim=1, stable=True).indices
        shifted = x.gather(1, order)
        n_kept = (~where).sum(1, keepdim=True)
        pos = torch.arange(x.shape[1], device=x.device)
        return torch.where(pos < n_kept, shifted, torch.full_like(x, self.pad_id))

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "pad_id": self.pad_id}


class ReplaceWithToken:
    """Replace every masked token by one fixed id (``[UNK]``, ``[SEP]``, ``[MASK]``, ...) [SGT].

    Example:
        >>> ReplaceWithToken(1)(torch.tensor([[5, 6]]), torch.tensor([[True, False]]), None)
        tensor([[1, 6]])
    """

    name = "replace_with_token"

    def __init__(self, token_id: int):
        self.token_id = _token_id(token_id, "token_id")

    def __call__(
        self, x: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_ids(x, self.name)
        where = as_bool_mask(x, where)
        return x.masked_fill(where, self.token_id)

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "token_id": self.token_id}


class UnkToken(ReplaceWithToken):
    """Replace masked tokens by the vocabulary's ``[UNK]`` id (``unk_id``; BERT's is 100)."""

    name = "unk"

    def __init__(self, unk_id: int):
        super().__init__(unk_id)


class SepToken(ReplaceWithToken):
    """Replace masked tokens by the vocabulary's ``[SEP]`` id (``sep_id``; BERT's is 102)."""

    name = "sep"

    def __init__(self, sep_id: int):
        super().__init__(sep_id)


class RandomToken:
    """Replace each masked token by a uniformly random vocabulary id [SGT].

    Ids are drawn from ``range(vocab_size)`` without the ids in ``exclude`` (e.g. pad, CLS, SEP).

    Example:
        >>> ids, where = torch.tensor([[5, 6]]), torch.tensor([[True, False]])
        >>> out = RandomToken(10, exclude=(0,))(ids, where, torch.Generator().manual_seed(0))
        >>> 1 <= int(out[0, 0]) < 10 and int(out[0, 1]) == 6
        True
    """

    name = "random_word"

    def __init__(self, vocab_size: int, exclude: Sequence[int] = ()):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ConfigError(f"vocab_size must be a positive integer, got {vocab_size!r}")
        excluded = {_token_id(i, "exclude id") for i in exclude}
        allowed = [i for i in range(vocab_size) if i not in excluded]
        if not allowed:
            raise ConfigError(f"exclude={sorted(excluded)} leaves no id of {vocab_size} to draw")
        self.vocab_size = vocab_size
        self.exclude = tuple(sorted(excluded))
        self._allowed = torch.tensor(allowed, dtype=torch.long)

    def __call__(
        self, x: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_ids(x, self.name)
        where = as_bool_mask(x, where)
        gen_device = generator.device if generator is not None else x.device
        pick = torch.randint(
            len(self._allowed), tuple(x.shape), generator=generator, device=gen_device
        ).to(x.device)
        values = self._allowed.to(x.device)[pick].to(x.dtype)
        return torch.where(where, values, x)

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "vocab_size": self.vocab_size, "exclude": list(self.exclude)}


class PreviousToken:
    """Replace each masked token by the nearest preceding unmasked token [SGT].

    The unmasked tokens are the high-saliency ones, so a masked run repeats the last salient word
    before it — the best text masking in [SGT]. A masked run at the start of a sequence (position
    0 onwards, nothing precedes it) takes the *first unmasked token after it* instead. A row in
    which every token is masked has no word to copy: it is filled with ``fallback_id`` when one is
    given, else a :class:`~saliencylab.errors.ConfigError` is raised (lower ``k``).

    Example:
        >>> ids = torch.tensor([[5, 6, 7, 8, 9]])
        >>> where = torch.tensor([[True, False, True, True, False]])
        >>> PreviousToken()(ids, where, None)
        tensor([[6, 6, 6, 6, 9]])
    """

    name = "previous_word"

    def __init__(self, fallback_id: int | None = None):
        self.fallback_id = None if fallback_id is None else _token_id(fallback_id, "fallback_id")

    def __call__(
        self, x: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_ids(x, self.name)
        where = as_bool_mask(x, where).expand_as(x)
        length = x.shape[1]
        pos = torch.arange(length, device=x.device).expand_as(x)
        # Last unmasked position at or before i: running max of (i if unmasked else -1).
        prev = torch.where(where, -1, pos).cummax(1).values
        # First unmasked position at or after i, for runs that start at position 0.
        nxt = torch.where(where, length, pos).flip(1).cummin(1).values.flip(1)
        src = torch.where(prev >= 0, prev, nxt)
        empty = src >= length  # the whole row is masked
        if self.fallback_id is None and bool(empty.any()):
            rows = torch.nonzero(empty.any(1)).flatten().tolist()
            raise ConfigError(
                f"previous_word: every token of row(s) {rows[:5]} is masked, there is no word "
                "to copy; lower k or pass fallback_id"
            )
        out = x.gather(1, src.clamp(max=length - 1))
        if self.fallback_id is not None:
            out = out.masked_fill(empty, self.fallback_id)
        return torch.where(where, out, x)

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "fallback_id": self.fallback_id}


# ----------------------------------------------------------------------------------------------
# registry

MASKING_FUNCTIONS: dict[str, Callable[..., MaskingFunction]] = {
    "random_in_range": RandomInRange,
    "remove": RemoveTokens,
    "unk": UnkToken,
    "sep": SepToken,
    "random_word": RandomToken,
    "previous_word": PreviousToken,
}
"""Masking function name -> constructor; build one with :func:`get_masking`."""

TEXT_MASKING = ("remove", "unk", "sep", "random_word", "previous_word")


def get_masking(name: str, **kwargs: Any) -> MaskingFunction:
    """Build the masking function registered as ``name`` with its keyword arguments.

    Example:
        >>> get_masking("unk", unk_id=1).token_id
        1
    """
    if name not in MASKING_FUNCTIONS:
        raise UnknownNameError("masking function", name, MASKING_FUNCTIONS)
    try:
        return MASKING_FUNCTIONS[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"masking function {name!r}: {exc}") from exc
