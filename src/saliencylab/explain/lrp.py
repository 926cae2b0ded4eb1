"""Layer-wise relevance propagation with the epsilon rule, as a modified gradient.

[OBJ] Löffler et al. (§4.1, Appendix B.2) use LRP-ε (Bach et al., PLoS ONE 2015; ε = 1e-9) and
add the relevances of residual branches. Captum's
LRP has no rule for Conv1d and Zennit cannot be installed next to a CPU-only torch, so we
implement the rule directly:

For every Linear / Conv1d / Conv2d / BatchNorm layer with output ``z`` a forward hook returns
``z * r.detach() + (z * (1 - r)).detach()`` with ``r = z / (z + ε·sign(z))`` (sign(0) = +1).
The forward value is unchanged; the backward gradient through the layer is scaled by
``z / stab(z)``. With ``R_k = z_k · g_k`` this is exactly the ε-rule
``R_j = a_j Σ_k w_jk R_k / (z_k + ε·sign(z_k))``. ReLU, max-pooling, dropout (eval), reshapes
and residual adds pass the plain gradient, so the relevances of residual branches are added.
The input relevance is ``input ⊙ modified gradient`` of the target logit; for a bias-free ReLU
network it sums to the target logit (conservation).

Layers without an LRP rule here (recurrent, attention, normalisation over features, smooth
activations) raise :class:`NotApplicableError`.

Example:
    >>> import torch
    >>> from saliencylab.explain.lrp import lrp_epsilon
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 2, bias=False))
    >>> x = torch.rand(3, 4)
    >>> r = lrp_epsilon(net, x, torch.zeros(3, dtype=torch.long))
    >>> bool(torch.allclose(r.sum(1), net(x)[:, 0], atol=1e-5))
    True
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from saliencylab.errors import NotApplicableError
from saliencylab.explain.method import Context, Method, boolean, non_negative_number
from saliencylab.explain.selection import select_output

# Layers that get the epsilon rule.
RULE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)
# Leaves that pass the plain gradient (piecewise linear or identity in eval mode).
PASS_LAYERS = (
    nn.ReLU, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.MaxPool1d, nn.MaxPool2d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Unflatten, nn.Identity,
    nn.ConstantPad1d, nn.ConstantPad2d, nn.ZeroPad2d,
)
# Layers with no LRP rule in this implementation: the method cannot apply.
UNSUPPORTED = (
    nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
    nn.LayerNorm, nn.GroupNorm, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Softmax, nn.ELU, nn.SiLU,
    nn.LeakyReLU, nn.Softplus, nn.Mish,
)


def unsupported_layers(model: nn.Module, skip: Iterable[nn.Module] = (),
                       named: tuple[tuple[str, nn.Module], ...] = ()) -> list[str]:
    """Names and types of the layers of ``model`` that LRP-ε cannot handle here.

    Parameter-free leaves of unknown type (e.g. a ``Chomp1d`` slice or a transpose) are assumed
    to be reshaping and pass the plain gradient; unknown leaves with parameters are reported.
    ``named``: ``model.named_modules()`` already walked.
    """
    skipped = {id(m) for s in skip for m in s.modules()}
    bad = []
    for name, m in named or model.named_modules():
        if id(m) in skipped:
            continue
        if isinstance(m, UNSUPPORTED):
            bad.append(f"{name or '<model>'} ({type(m).__name__})")
        elif (
            not isinstance(m, RULE_LAYERS + PASS_LAYERS)
            and next(m.children(), None) is None
            and next(m.parameters(recurse=False), None) is not None
        ):
            bad.append(f"{name} ({type(m).__name__}, unknown layer with parameters)")
    return bad


def _epsilon_hook(epsilon: float):
    def hook(_module: nn.Module, _inputs: tuple, z: Tensor) -> Tensor:
        stab = z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
        r = z / stab
        # Same forward value; the gradient through z is scaled by z / stab(z).
        return z * r.detach() + (z * (1 - r)).detach()

    return hook


def lrp_epsilon(
    model: nn.Module, x: Tensor, target: Tensor, extra: tuple = (), *, epsilon: float = 1e-9,
    rule_model: nn.Module | None = None, rule_layers: Iterable[nn.Module] | None = None,
) -> Tensor:
    """LRP-ε relevance of ``x`` for the output ``target`` selects; same shape as ``x``.

    ``target`` is a ``(B,)`` class (flat output) index or a ``(B, T)`` per-step target for
    ``(B, T, C)`` outputs (:func:`saliencylab.explain.selection.select_output`).
    ``rule_model`` is the module whose layers get the ε rule (default ``model``; for text it
    is the user's model while ``model`` is the wrapper taking embeddings); ``rule_layers``, when
    given, are its modules already walked.
    """
    rule_model = model if rule_model is None else rule_model
    layers = rule_model.modules() if rule_layers is None else rule_layers
    hook = _epsilon_hook(float(epsilon))
    handles = [m.register_forward_hook(hook) for m in layers if isinstance(m, RULE_LAYERS)]
    try:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            out = model(xg, *extra)
            selected = select_output(out, target).sum()
            (grad,) = torch.autograd.grad(selected, xg)
    finally:
        for h in handles:
            h.remove()
    return (x * grad).detach()


def resolve_lrp(ctx: Context, x: Tensor) -> None:
    """Check ``epsilon``; refuse models with layers that have no rule (unless
    ``strict=False``)."""
    non_negative_number(ctx.params, "epsilon")
    boolean(ctx.params, "strict")
    if not ctx.params["strict"]:
        return
    skip = [ctx.embedding_layer] if ctx.embedding_layer is not None else []
    bad = unsupported_layers(ctx.model, skip, ctx.modules())
    if bad:
        from saliencylab.explain.registry import METHODS

        usable = [n for n, m in METHODS.items() if n != "lrp" and "conv_layer" not in m.needs]
        raise NotApplicableError(
            f"LRP-epsilon has no rule for these layers of {type(ctx.model).__name__}: "
            f"{', '.join(bad[:6])}{' ...' if len(bad) > 6 else ''} (pass strict=False to treat "
            f"them as plain gradients). Methods that apply: {', '.join(usable)}"
        )


def run_lrp(ctx: Context, x: Tensor, target: Tensor, extra: tuple, rows: Tensor) -> Tensor:
    """LRP-ε of the explained scalars (``ctx.forward`` returns them as ``(rows, 1)``)."""
    zeros = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    return lrp_epsilon(ctx.forward, x, zeros, extra, epsilon=ctx.params["epsilon"],
                       rule_model=ctx.model,
                       rule_layers=[m for _, m in ctx.modules()])


LRP = Method(
    "lrp", "gradient",
    "Layer-wise relevance propagation, epsilon rule for Linear/Conv/BatchNorm, plain gradient "
    "through ReLU, pooling and residual adds [OBJ] §4.1, Appendix B.2",
    needs=("piecewise_linear",), defaults={"epsilon": 1e-9, "strict": True},
    references=("OBJ",), run=run_lrp, resolve=resolve_lrp, row_elements=lambda params, numel: numel,
)
