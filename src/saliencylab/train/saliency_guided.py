"""Saliency guided training ([SGT] Ismail, Corrada Bravo, Feizi, NeurIPS 2021).

Per mini-batch ``(X, y)``:

1. ``g = ∂f_y(X)/∂X``, the signed gradient of the label's logit, with the model in eval mode (as
   the authors' code does; train mode is restored afterwards). Only the input gradient is taken
   (``torch.autograd.grad(..., x)``), no parameter gradients.
2. ``X̃`` = ``X`` with its ``⌊k·n⌋`` lowest-saliency units replaced by a masking function
   (:mod:`saliencylab.train.masking`); ``n`` = cells of a time-series sample ``T·F``, pixels of an
   image ``H·W`` (saliency summed over channels), tokens of a text ``L`` (saliency = gradient
   w.r.t. the token embeddings summed over the embedding dimension). ``X̃`` is detached.
3. ``loss = CE(f(X), y) + λ · KL(p_X ‖ p_X̃)`` with ``p = softmax(f(·))``,
   ``KL(p_X ‖ p_X̃) = Σ_c p_X (log p_X − log p_X̃)`` (mean over the batch), computed from
   ``log_softmax``. Gradients flow through both ``f(X)`` and ``f(X̃)`` into the parameters — the
   authors' ``KLDivLoss(log_softmax(f(X̃)), log_softmax(f(X)), log_target=True, 'batchmean')``.

Ordering: by default the *signed* gradient (the authors' code; the most negative gradients are
masked first); ``by_magnitude=True`` ranks ``|g|`` (the paper's wording).

Cost: a traditional step is forward + backward; SGT adds an eval forward, an input-only backward
and the masked forward + backward. By default the two train-mode forwards run as one batch
``[X; X̃]`` (``fuse_forward``), unless the model has batch-norm layers, whose batch statistics
would then mix clean and masked samples. ``benchmarks/sgt_overhead.py`` measures the ratio.

Example:
    >>> from saliencylab.data import load_synthetic
    >>> from saliencylab.models import build_model
    >>> from saliencylab.train.trainer import TrainConfig, fit
    >>> from saliencylab.train.saliency_guided import SaliencyGuided
    >>> data = load_synthetic("Middle", "Gaussian")  # doctest: +SKIP
    >>> model = build_model("tcn", n_features=50, n_time=50)  # doctest: +SKIP
    >>> result = fit(model, data, TrainConfig(epochs=20), SaliencyGuided(k=0.5))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.train.masking import (
    MASKING_FUNCTIONS,
    TEXT_MASKING,
    MaskingFunction,
    get_masking,
    unit_shape,
)
from saliencylab.train.trainer import fit
from saliencylab.utils import eval_mode

__all__ = ["SaliencyGuided", "fine_tune", "kl_divergence", "lowest_saliency_mask"]


def kl_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """``KL(p ‖ q) = Σ_c p (log p − log q)`` of the softmaxes of two logit batches, batch mean.

    Example:
        >>> z = torch.tensor([[1.0, 2.0]])
        >>> float(kl_divergence(z, z))
        0.0
    """
    log_p = F.log_softmax(logits_p, dim=1)
    log_q = F.log_softmax(logits_q, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(1).mean()


def n_masked(k: float, n_units: int) -> int:
    """``⌊k·n⌋`` as the authors' ``int(k * n)``, guarded against float error (0.29·100 -> 29)."""
    return min(n_units, int(math.floor(k * n_units + 1e-9)))


def lowest_saliency_mask(
    saliency: torch.Tensor, k: float, by_magnitude: bool = False
) -> torch.Tensor:
    """Bool mask (saliency's shape) of the ``⌊k·n⌋`` lowest-saliency units of each sample.

    ``saliency`` is ``(B, ...)``; the ``n`` units of a sample are all its non-batch entries. Ranks
    the signed values, or ``|saliency|`` when ``by_magnitude``. Uses a top-k selection (no full
    sort) and a scatter, batched over samples.

    Example:
        >>> s = torch.tensor([[3.0, -5.0, 1.0, 2.0]])
        >>> lowest_saliency_mask(s, 0.5)
        tensor([[False,  True,  True, False]])
        >>> lowest_saliency_mask(s, 0.5, by_magnitude=True)
        tensor([[False, False,  True,  True]])
    """
    flat = saliency.detach().reshape(saliency.shape[0], -1)
    if by_magnitude:
        flat = flat.abs()
    m = n_masked(k, flat.shape[1])
    where = torch.zeros(flat.shape, dtype=torch.bool, device=flat.device)
    if m > 0:
        idx = torch.topk(flat, m, dim=1, largest=False, sorted=False).indices
        where.scatter_(1, idx, True)
    return where.view(saliency.shape)


def _has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class SaliencyGuided:
    """The [SGT] training procedure for :func:`saliencylab.train.trainer.fit`.

    Args:
        k: fraction of each sample's features (units) to mask, strictly between 0 and 1
            ([SGT] §3: the k lowest-saliency features; time series 5–90 % per dataset, MNIST
            50 %). ``k = 0`` would mask nothing (traditional training under another name: use
            :class:`~saliencylab.train.procedures.Traditional`) and ``k = 1`` everything (the
            masked input is pure noise, with no saliency left to guide), so both are refused
            with ``ConfigError``. A ``k`` below one unit (``⌊k·n⌋ = 0``) masks nothing and skips
            the saliency pass, like the authors' code.
        lam: weight λ ≥ 0 of the KL term (1 in [SGT]), finite; ``lam = 0`` is plain
            cross-entropy and skips the saliency and masked passes.
        masking: a name in :data:`saliencylab.train.masking.MASKING_FUNCTIONS` or a callable
            ``mask(x, where, generator) -> x_masked``. ``"random_in_range"`` (default) suits time
            series and images; text needs one of ``remove``, ``unk``, ``sep``, ``random_word``,
            ``previous_word`` (build those with ``get_masking(name, ...)``, e.g. the unk id).
        by_magnitude: rank ``|g|`` instead of the signed gradient (default: signed, as the code).
        feature_range: fixed per-feature ``(lo, hi)`` for ``random_in_range`` (e.g.
            :func:`saliencylab.train.masking.feature_range` of the training data); ``None``: the
            batch's per-feature min/max.
        embedding: text models only — the ``nn.Embedding`` (or its attribute path in the model)
            whose output the saliency is taken of; ``None`` finds the model's single embedding.
        fuse_forward: run ``f(X)`` and ``f(X̃)`` as one ``[X; X̃]`` batch; ``None`` = yes unless the
            model has batch-norm layers.

    Example:
        >>> proc = SaliencyGuided(k=0.5, lam=1.0)
        >>> proc.params()["k"]
        0.5
    """

    name = "saliency_guided"

    def __init__(
        self,
        k: float,
        lam: float = 1.0,
        masking: str | MaskingFunction = "random_in_range",
        by_magnitude: bool = False,
        feature_range: tuple[Any, Any] | None = None,
        embedding: nn.Module | str | None = None,
        fuse_forward: bool | None = None,
    ):
        if isinstance(k, bool) or not isinstance(k, int | float) or not 0.0 < k < 1.0:
            raise ConfigError(
                f"k (the fraction of features masked, [SGT]) must lie strictly between 0 and 1, "
                f"got {k!r}; k = 0 masks nothing (use the traditional procedure) and k = 1 "
                "masks every feature"
            )
        if (
            isinstance(lam, bool)
            or not isinstance(lam, int | float)
            or not math.isfinite(lam)
            or lam < 0
        ):
            raise ConfigError(f"lam (the weight of the KL term) must be a finite number >= 0, "
                              f"got {lam!r}")
        if fuse_forward not in (None, True, False):
            raise ConfigError(f"fuse_forward must be None, True or False, got {fuse_forward!r}")
        self.k = float(k)
        self.lam = float(lam)
        self.by_magnitude = bool(by_magnitude)
        self.embedding = embedding
        self.fuse_forward = fuse_forward
        if isinstance(masking, str):
            if masking not in MASKING_FUNCTIONS:
                # get_masking raises the UnknownNameError listing the valid names
                get_masking(masking)
            if feature_range is not None and masking != "random_in_range":
                raise ConfigError(
                    f"feature_range applies to masking='random_in_range', not {masking!r}"
                )
            kwargs = {} if feature_range is None else {"feature_range": feature_range}
            self.masking_name = masking
            self.masking = get_masking(masking, **kwargs)
        elif callable(masking):
            if feature_range is not None:
                raise ConfigError("feature_range only configures the built-in 'random_in_range'")
            self.masking = masking
            self.masking_name = getattr(masking, "name", None) or getattr(
                masking, "__name__", type(masking).__name__
            )
        else:
            raise ConfigError(
                f"masking must be a name in {sorted(MASKING_FUNCTIONS)} or a callable "
                f"mask(x, where, generator), got {type(masking).__name__}"
            )

    # ------------------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Settings stored in checkpoints; a built-in masking's own settings are included."""
        masking_params = self.masking.params() if hasattr(self.masking, "params") else {}
        return {
            "name": self.name,
            "k": self.k,
            "lam": self.lam,
            "masking": self.masking_name,
            "masking_params": masking_params,
            "by_magnitude": self.by_magnitude,
        }

    def __repr__(self) -> str:
        return (
            f"SaliencyGuided(k={self.k}, lam={self.lam}, masking={self.masking_name!r}, "
            f"by_magnitude={self.by_magnitude})"
        )

    # ------------------------------------------------------------------------------------------
    def _embedding_module(self, model: nn.Module) -> nn.Module:
        if isinstance(self.embedding, nn.Module):
            return self.embedding
        if isinstance(self.embedding, str):
            try:
                return model.get_submodule(self.embedding)
            except AttributeError as exc:
                raise ConfigError(f"model has no submodule {self.embedding!r}") from exc
        found = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        if len(found) != 1:
            raise NotApplicableError(
                f"saliency guided training on token ids needs the model's embedding layer; found "
                f"{len(found)} nn.Embedding modules — pass embedding=<module or attribute path>"
            )
        return found[0]

    def saliency(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Signed ``∂f_y/∂X`` reduced to units: ``(B,T,F)``, ``(B,1,H,W)`` or ``(B,L)``.

        The model runs in eval mode for it; its previous mode is restored.
        """
        with eval_mode(model), torch.enable_grad():
            if x.is_floating_point():
                leaf = x.detach().requires_grad_(True)
                logits = model(leaf)
            else:
                captured: list[torch.Tensor] = []

                def hook(_module, _inputs, out):
                    # A detached leaf: the gradient stops here, no parameter gradients.
                    out = out.detach().requires_grad_(True)
                    captured.append(out)
                    return out

                handle = self._embedding_module(model).register_forward_hook(hook)
                try:
                    logits = model(x)
                finally:
                    handle.remove()
                if len(captured) != 1:
                    raise NotApplicableError(
                        f"the embedding layer ran {len(captured)} times in one forward pass; "
                        "expected once"
                    )
                leaf = captured[0]
            if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
                raise ShapeError(
                    f"model must return logits (batch, classes), got {tuple(logits.shape)}"
                )
            (grad,) = torch.autograd.grad(logits.gather(1, y.view(-1, 1)).sum(), leaf)
        if not x.is_floating_point():
            return grad.sum(-1)  # (B, L, D) -> per token
        if x.dim() == 4:
            return grad.sum(1, keepdim=True)  # per pixel, over channels
        return grad

    def masked_input(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X̃ detached, where)``: the batch with its lowest-saliency units masked."""
        if not x.is_floating_point() and self.masking_name == "random_in_range":
            raise ConfigError(
                f"masking='random_in_range' cannot mask token ids; use one of {TEXT_MASKING}"
            )
        where = lowest_saliency_mask(self.saliency(model, x, y), self.k, self.by_magnitude)
        x_masked = self.masking(x.detach(), where, generator)
        if x_masked.shape != x.shape:
            raise ShapeError(
                f"masking function {self.masking_name!r} returned shape {tuple(x_masked.shape)} "
                f"for input {tuple(x.shape)}"
            )
        return x_masked.detach(), where

    def loss(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``CE(f(X), y) + λ·KL(p_X ‖ p_X̃)`` and the logits ``f(X)``; the model is in train mode."""
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ShapeError(
                f"labels must be (batch,) = ({x.shape[0]},), got {tuple(y.shape)}"
            )
        if x.dim() < 2:
            raise ShapeError(f"inputs must be batched (batch, ...), got {tuple(x.shape)}")
        if self.lam == 0.0 or n_masked(self.k, math.prod(unit_shape(x)[1:])) == 0:
            # No KL term (λ = 0) or nothing to mask (⌊k·n⌋ = 0, X̃ = X): plain cross-entropy, as
            # the authors' code skips the masked pass when nothing is masked.
            logits = model(x)
            return F.cross_entropy(logits, y), logits
        x_masked, _ = self.masked_input(model, x, y, generator)
        fuse = self.fuse_forward
        if fuse is None:
            fuse = not _has_batch_norm(model)
        if fuse:
            both = model(torch.cat([x, x_masked]))
            logits, masked_logits = both[: x.shape[0]], both[x.shape[0] :]
        else:
            logits = model(x)
            masked_logits = model(x_masked)
        ce = F.cross_entropy(logits, y)
        return ce + self.lam * kl_divergence(logits, masked_logits), logits


def fine_tune(
    model: nn.Module,
    dataset: Any,
    config: Any = None,
    sgt: SaliencyGuided | None = None,
    **fit_kwargs: Any,
):
    """Continue training an already trained ``model`` with saliency guided training [SGT].

    [SGT] reports that fine-tuning a traditionally trained model this way converges in fewer
    epochs (70 vs. 124 on CIFAR-10) and improves its saliency maps. This is :func:`fit` on the
    given weights with a fresh optimiser; it returns fit's :class:`TrainResult`.

    Example:
        >>> from saliencylab.train.trainer import TrainConfig, load_checkpoint
        >>> model, info = load_checkpoint("runs/tcn_middle.pt")  # doctest: +SKIP
        >>> sgt = SaliencyGuided(k=0.5)
        >>> result = fine_tune(model, data, TrainConfig(epochs=70), sgt)  # doctest: +SKIP
    """
    if sgt is None:
        raise ConfigError("fine_tune needs sgt=SaliencyGuided(k=...) (k is dataset-specific)")
    if not isinstance(sgt, SaliencyGuided):
        raise ConfigError(f"sgt must be a SaliencyGuided procedure, got {type(sgt).__name__}")
    return fit(model, dataset, config, sgt, **fit_kwargs)
