"""DeepLIFT's rescale rule in one autograd pass.

DeepLIFT (Shrikumar et al., 2017, §3.3 and §3.5.1; [TSB] §2.1) attributes
``f(x) - f(x̄)`` to the input differences ``x - x̄``: gradients flow through linear layers as
usual, and every nonlinearity passes back its *multiplier* ``Δout / Δin`` (the ordinary
derivative where ``|Δin| < 1e-10``) instead of its derivative. The input and the baseline run
as one batch of ``2B`` rows so that each nonlinearity sees both.

Captum's ``DeepLift`` reaches the same numbers with module backward hooks that clone every
hooked input and output, forward and backward. Here each nonlinearity runs outside autograd and
a forward hook returns its output through a custom ``autograd.Function`` whose backward applies
the rule, so one ``torch.autograd.grad`` gives the multipliers. A module object called more
than once per forward pass works too (each call gets its own multiplier), where Captum refuses
it.

The rules are Captum's, on the module types Captum hooks (exactly those types, not
subclasses): the elementwise rescale on ``ReLU``, ``ELU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``
and ``Softplus``; Captum's max-pooling rule (the output difference taken against the larger of
the two maxima, routed back through both argmax sets) on ``MaxPool1d/2d/3d``; and Captum's
softmax rule (the rescaled gradient minus its mean over the whole tensor) on ``Softmax``. Two
deviations, both where Captum's result is not the rule's: where ``|Δin| < 1e-10`` at a max pool
we use each row's own pooling gradient (Captum's code takes the first row's for every row,
Captum issue #1276), and where pooling windows overlap, the contributions of a cell that is the
maximum of several windows add up (Captum's ``max_unpool`` keeps one of them).

How consecutive rules combine is the one real difference (:data:`RULES`): Captum loses the rule
of a nonlinearity fed directly by another one, so on the TCN and the CNNs (ReLU then max pool)
its maps do not sum to ``f(x) - f(x̄)``. The default composes every rule, as DeepLIFT defines it;
``rules="captum"`` gives Captum's maps (equal in the tests wherever no ``|Δin| < 1e-10`` occurs:
there Captum's first module still sees the second one's rewritten gradient).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    >>> x, x0 = torch.rand(2, 3), torch.zeros(2, 3)
    >>> attr = deeplift(lambda z: net(z), net.named_modules(), x, x0)
    >>> torch.allclose(attr.sum(1), (net(x) - net(x0)).squeeze(1), atol=1e-6)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliencylab.errors import ConfigError

__all__ = ["EPS", "RULES", "deeplift"]

#: Below this ``|Δin|`` a nonlinearity passes back its ordinary derivative (Captum's ``eps``).
EPS = 1e-10

#: How the rules of consecutive nonlinearities combine.
RULES = {
    "deeplift": "every nonlinearity passes back its multiplier and they compose by the chain "
                "rule (Shrikumar et al., 2017, §3.3): each map sums to f(x) - f(baseline)",
    "captum": "Captum DeepLift's result, which the [TSB] released code used: a nonlinearity "
              "whose input is directly another hooked nonlinearity's output (a max pool right "
              "after a ReLU, as in the TCN and the CNNs) passes back its ordinary gradient, "
              "because Captum's hook on the first module reads the gradient before the second "
              "one's rule rewrites it; the maps then need not sum to f(x) - f(baseline)",
}

_POOLS = {
    nn.MaxPool1d: (1, F.max_pool1d),
    nn.MaxPool2d: (2, F.max_pool2d),
    nn.MaxPool3d: (3, F.max_pool3d),
}


def _derivative(module: nn.Module, x: Tensor, out: Tensor) -> Tensor:
    """The elementwise module's own derivative at ``x`` (as its autograd backward computes it)."""
    if isinstance(module, nn.ReLU):
        return (x > 0).to(x.dtype)
    if isinstance(module, nn.LeakyReLU):
        return torch.where(x > 0, 1.0, module.negative_slope).to(x.dtype)
    if isinstance(module, nn.ELU):
        return torch.where(x > 0, 1.0, out + module.alpha)
    if isinstance(module, nn.Sigmoid):
        return out * (1 - out)
    if isinstance(module, nn.Tanh):
        return 1 - out * out
    bx = x * module.beta  # nn.Softplus: linear above the threshold
    return torch.where(bx > module.threshold, 1.0, torch.sigmoid(bx))


def _delta(t: Tensor) -> Tensor:
    """``t[:B] - t[B:]`` for a ``2B``-row tensor, repeated for both halves."""
    a, b = t.chunk(2)
    d = a - b
    return torch.cat([d, d])


def _input_delta(x: Tensor) -> tuple[Tensor, Tensor]:
    """``Δin`` of a rule's input (both halves) and where it is below :data:`EPS`."""
    d_in = _delta(x.detach())
    return d_in, d_in.abs() < EPS


def _ratio(d_out: Tensor, d_in: Tensor, small: Tensor) -> Tensor:
    return torch.where(small, 0.0, d_out / torch.where(small, 1.0, d_in))


class _Rescale(torch.autograd.Function):
    """Value ``out``; gradient ``g · m`` with the multipliers ``m`` (one per element)."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, m: Tensor) -> Tensor:
        ctx.save_for_backward(m)
        return out

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor, None, None]:
        (m,) = ctx.saved_tensors
        return g * m, None, None


def _elementwise(module: nn.Module, x: Tensor, out: Tensor) -> Tensor:
    d_in, small = _input_delta(x)
    m = torch.where(small, _derivative(module, x.detach(), out), _ratio(_delta(out), d_in, small))
    return _Rescale.apply(x, out, m)


class _SoftmaxRule(torch.autograd.Function):
    """Captum's softmax rule: the rescaled gradient (the softmax's own vector-Jacobian product
    where ``|Δin| < EPS``) minus its mean over the whole tensor."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, ratio: Tensor, small: Tensor, dim: int) -> Tensor:
        ctx.save_for_backward(out, ratio, small)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
        out, ratio, small = ctx.saved_tensors
        own = out * (g - (g * out).sum(ctx.dim, keepdim=True))
        u = torch.where(small, own, g * ratio)
        return u - u.mean(), None, None, None, None


def _softmax(module: nn.Softmax, x: Tensor, out: Tensor) -> Tensor:
    d_in, small = _input_delta(x)
    # dim=None: torch's legacy implicit dim (0 for 0-, 1- and 3-d inputs, else 1)
    dim = module.dim if module.dim is not None else (0 if x.dim() in (0, 1, 3) else 1)
    return _SoftmaxRule.apply(x, out, _ratio(_delta(out), d_in, small), small, dim)


class _MaxPoolRule(torch.autograd.Function):
    """Captum's max-pool rule. With ``M = max(out, out_ref)`` the input half passes back
    ``g·(M - out_ref)`` through its argmax cells and the baseline half ``g·(out - M)`` through
    its own; their sum over ``Δin`` is the multiplier of the cell in both halves (the pool's own
    gradient where ``|Δin| < EPS``). Tensors are ``(rows, planes..., cells)``."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, idx: Tensor, weights: Tensor, d_in: Tensor,
                small: Tensor) -> Tensor:
        ctx.save_for_backward(idx, weights, d_in, small)
        ctx.x_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
        idx, weights, d_in, small = ctx.saved_tensors
        g = g.reshape(idx.shape)
        inp, ref = _scatter(g * weights, idx, d_in).chunk(2)
        both = inp + ref
        rescaled = torch.cat([both, both]) / torch.where(small, 1.0, d_in)
        grad = torch.where(small, _scatter(g, idx, d_in), rescaled)
        return grad.view(ctx.x_shape), None, None, None, None, None


def _scatter(values: Tensor, idx: Tensor, like: Tensor) -> Tensor:
    # the adjoint of picking the argmax cells (overlapping windows add up)
    return torch.zeros_like(like).scatter_add_(-1, idx, values)


def _maxpool(module: nn.Module, x: Tensor, out: Tensor) -> Tensor:
    spatial, pool = _POOLS[type(module)]
    args = (module.kernel_size, module.stride, module.padding, module.dilation,
            module.ceil_mode)
    _, idx = pool(x.detach(), *args, return_indices=True)
    o, o_ref = out.chunk(2)
    top = torch.max(o, o_ref)
    weights = torch.cat([top - o_ref, o - top])
    d_in, small = _input_delta(x)
    planes = x.shape[: x.dim() - spatial]
    flat = (t.reshape(*planes, -1) for t in (idx, weights, d_in, small))
    return _MaxPoolRule.apply(x, out, *flat)


def _rule(module: nn.Module) -> Callable[[nn.Module, Tensor, Tensor], Tensor] | None:
    kind = type(module)
    if kind in (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus):
        return _elementwise
    if kind in _POOLS:
        if module.return_indices:
            return None  # a tuple output: Captum cannot hook it either
        return _maxpool
    if kind is nn.Softmax:
        return _softmax
    return None


def deeplift(
    forward: Callable[..., Tensor],
    named_modules: Iterable[tuple[str, nn.Module]],
    x: Tensor,
    baseline: Tensor,
    extra: tuple = (),
    rules: str = "deeplift",
) -> Tensor:
    """DeepLIFT (rescale rule) attributions of ``forward``'s summed outputs to ``x - baseline``.

    Args:
        forward: ``forward(inputs, *extra)`` returning one explained value per row (any shape
            with rows first; the values are summed); rows must be independent.
        named_modules: the modules whose nonlinearities get the rule (``model.named_modules()``).
        x, baseline: inputs and baselines of the same shape.
        extra: further forward arguments with rows first (token ids, targets), repeated for the
            baseline rows.
        rules: ``"deeplift"`` (every multiplier composes by the chain rule, Shrikumar et al.,
            2017, §3.3) or ``"captum"`` (:data:`RULES`: Captum's ``DeepLift`` as the [TSB] code
            ran it).

    Returns:
        ``(x - baseline) · multipliers``, the shape of ``x``; each row sums to
        ``f(x) - f(baseline)`` on networks of the supported layers.
    """
    if rules not in RULES:
        raise ConfigError(f"rules must be one of {', '.join(RULES)}, got {rules!r}")
    stash: dict[nn.Module, list[tuple[Tensor, bool]]] = {}
    ruled: dict[int, Tensor] = {}  # the outputs the rules returned, kept alive, by id
    handles = []

    def keep_input(module: nn.Module, args: tuple) -> tuple | None:
        inp = args[0]
        # Captum: a rule fed directly by another rule's output is lost (see RULES)
        plain = (not isinstance(inp, Tensor) or not inp.requires_grad
                 or (rules == "captum" and ruled.get(id(inp)) is inp))
        stash.setdefault(module, []).append((inp, plain))
        if plain:  # the module's own gradient
            return None
        # The rule supplies the gradient: the module runs outside autograd, on a copy if it
        # works in place (the rule needs the input).
        run_on = inp.detach()
        return (run_on.clone() if getattr(module, "inplace", False) else run_on, *args[1:])

    try:
        for _, module in named_modules:
            rule = _rule(module)
            if rule is None:
                continue

            def apply_rule(mod, args, out, rule=rule):
                inp, plain = stash[mod].pop()
                if plain or not isinstance(out, Tensor):
                    return None
                new = rule(mod, inp, out)
                ruled[id(new)] = new
                return new

            handles.append(module.register_forward_pre_hook(keep_input))
            handles.append(module.register_forward_hook(apply_rule))
        with torch.enable_grad():
            both = torch.cat([x.detach(), baseline.detach()]).requires_grad_(True)
            out = forward(both, *(torch.cat([e, e]) for e in extra))
            (grad,) = torch.autograd.grad(out.sum(), both)
    finally:
        for handle in handles:
            handle.remove()
    return (x - baseline) * grad[: x.shape[0]]
