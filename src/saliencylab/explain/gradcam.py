"""GradCAM and Guided GradCAM up-sampled to the input's layout.

[OBJ] Löffler et al. (§4.1, Appendix B.2) apply GradCAM (Selvaraju et al., ICCV 2017) to the
last convolution of a time-series classifier or segmenter and up-sample it to the input length.
The explained scalar is whatever the target selects (a class, a sum of per-step classes, an
output index), so GradCAM applies to any target of a model with a convolution. The map
(:func:`layer_gradcam`) equals Captum's ``LayerGradCam``, ``(batch, 1, T')`` for a Conv1d
(``(batch, 1, H', W')`` for a Conv2d), from one hook and one ``autograd.grad`` without Captum's
per-call set-up; Captum's ``GuidedGradCam`` would interpolate over the wrong axes of a
``(batch, time, features)`` input, so we up-sample ourselves:

- time series ``(B, T, F)`` with a Conv1d: linear interpolation of ``T'`` to ``T`` and
  broadcast over the features; with a Conv2d: bilinear to ``(T, F)``;
- images ``(B, C, H, W)``: bilinear to ``H × W``, broadcast over the channels;
- text (token embeddings ``(B, L, D)``): linear to ``L`` tokens, one score per token.

A causal convolution padded on both sides and then chomped (the [TSB] TCN) outputs ``T + pad``
steps of which the first ``T`` are kept by the model; we keep them too before interpolating.

Example:
    >>> import torch
    >>> from saliencylab.explain import explain
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 3))
    >>> explain(net, torch.rand(2, 1, 8, 8), 0, "gradcam").attributions.shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.explain.adapters import guided_backprop
from saliencylab.explain.method import Context, Method, boolean

#: ``interpolate_mode`` values: None picks linear (1-D maps) or bilinear (2-D maps); the modes
#: of ``torch.nn.functional.interpolate`` that fit a 1-D or 2-D map.
INTERPOLATE_MODES = (None, "nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic")
_MODES_1D = ("nearest", "nearest-exact", "area", "linear")
_MODES_2D = ("nearest", "nearest-exact", "area", "bilinear", "bicubic")

_CONVS = (nn.Conv1d, nn.Conv2d)


def module_name(model: nn.Module, layer: nn.Module,
                named: tuple[tuple[str, nn.Module], ...] = ()) -> str | None:
    """Dotted name of ``layer`` inside ``model`` (None if it is not a submodule); ``named``:
    ``model.named_modules()`` already walked."""
    for name, module in named or model.named_modules():
        if module is layer:
            return name
    return None


def find_last_conv(model: nn.Module, forward: nn.Module, probe: tuple) -> nn.Module | None:
    """The Conv1d/Conv2d that runs last in one forward pass of ``probe`` (None if none ran)."""
    called: list[nn.Module] = []
    handles = [
        m.register_forward_hook(lambda mod, _i, _o: called.append(mod))
        for m in model.modules() if isinstance(m, _CONVS)
    ]
    try:
        with torch.no_grad():
            forward(*probe)
    finally:
        for h in handles:
            h.remove()
    return called[-1] if called else None


def resolve_gradcam(ctx: Context, x: Tensor) -> dict:
    """Resolve ``layer``: a module, its dotted name, or None = the model's ``feature_layer``
    when it declares one (saliencylab models name their last conv feature map so), else the last
    Conv1d/Conv2d that runs in a forward pass. The module goes to ``ctx.state["layer"]``, its
    name to the effective parameters."""
    boolean(ctx.params, "relu_attributions")
    if ctx.params.get("interpolate_mode") not in INTERPOLATE_MODES:
        raise ConfigError(f"interpolate_mode must be one of "
                          f"{', '.join(map(repr, INTERPOLATE_MODES))}, got "
                          f"{ctx.params.get('interpolate_mode')!r}")
    layer = ctx.params.get("layer")
    if layer is None:
        declared = getattr(ctx.model, "feature_layer", None)
        if isinstance(declared, nn.Module):
            layer = declared
        else:
            probe = (x[:1], *ctx.state.get("probe_extra", ()))
            layer = find_last_conv(ctx.model, ctx.forward, probe)
        if layer is None:
            from saliencylab.explain.registry import METHODS

            usable = [n for n, m in METHODS.items() if "conv_layer" not in m.needs
                      and n != "lrp"]
            raise NotApplicableError(
                f"GradCAM needs a convolution layer, but {type(ctx.model).__name__} runs no "
                f"Conv1d/Conv2d (pass layer= to choose another layer). Methods that apply: "
                f"{', '.join(usable)}"
            )
    elif isinstance(layer, str):
        try:
            layer = ctx.model.get_submodule(layer)
        except AttributeError as exc:
            raise ConfigError(f"layer {ctx.params['layer']!r} is not a submodule of "
                              f"{type(ctx.model).__name__}") from exc
    name = module_name(ctx.model, layer, ctx.modules()) if isinstance(layer, nn.Module) \
        else None
    if name is None:
        raise ConfigError("layer must be a submodule of the model or its dotted name")
    ctx.state["layer"] = layer
    return {"layer": name}


def _interpolate(cam: Tensor, size: int | tuple[int, ...], mode: str) -> Tensor:
    fits = _MODES_1D if cam.dim() == 3 else _MODES_2D
    if mode not in fits:
        raise ConfigError(f"interpolate_mode {mode!r} does not apply to the {cam.dim() - 2}-D "
                          f"GradCAM map of this layer; use one of {', '.join(fits)} (or None)")
    return F.interpolate(cam, size=size, mode=mode)


def upsample(cam: Tensor, x: Tensor, modality: str, mode: str | None) -> Tensor:
    """Up-sample a ``(B, 1, *spatial')`` CAM to the attribution space of ``x`` (see module doc)."""
    spatial = cam.shape[2:]
    if modality == "image":
        if len(spatial) != 2:
            raise ShapeError(f"GradCAM on an image needs a 2-D conv output, got {tuple(cam.shape)}")
        up = _interpolate(cam, tuple(x.shape[2:]), mode or "bilinear")
        return up.expand_as(x)
    t = x.shape[1]
    if len(spatial) == 1:
        if spatial[0] > t:  # causal padding then chomp: the model keeps the first T steps
            cam = cam[..., :t]
        up = _interpolate(cam, t, mode or "linear")  # (B, 1, T)
        return up[:, 0, :, None].expand_as(x)
    if len(spatial) == 2:
        up = _interpolate(cam, tuple(x.shape[1:3]), mode or "bilinear")
        return up[:, 0].expand_as(x)
    raise ShapeError(
        f"cannot up-sample a GradCAM map of shape {tuple(cam.shape)} to {tuple(x.shape)}"
    )


def layer_gradcam(forward: nn.Module, layer: nn.Module, x: Tensor, extra: tuple = (),
                  relu: bool = True) -> Tensor:
    """GradCAM of ``layer`` for the scalars ``forward(x, *extra)`` returns, ``(B, 1, *spatial)``.

    Captum's ``LayerGradCam`` map: the layer's output ``A`` (its last run, when it runs several
    times), the gradient of the summed scalars with respect to it from one ``autograd.grad``,
    channel weights = that gradient's mean over the spatial axes, ``Σ_c w_c A_c`` and a ReLU.
    """
    captured: list[Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.enable_grad():
            # The input requires grad so that the layer's output does even when every parameter
            # is frozen.
            out = forward(x.detach().requires_grad_(True), *extra)
    finally:
        handle.remove()
    if not captured or not isinstance(captured[-1], Tensor):
        raise NotApplicableError(f"the GradCAM layer {type(layer).__name__} did not return a "
                                 "tensor in the forward pass")
    act = captured[-1]
    if act.dim() < 3:
        raise ShapeError(f"GradCAM needs a (batch, channels, *spatial) layer output, got "
                         f"{tuple(act.shape)}")
    try:
        (grad,) = torch.autograd.grad(out.sum(), act)
    except RuntimeError as exc:  # the explained scalars do not depend on the layer's output
        raise NotApplicableError(f"GradCAM: the explained outputs have no gradient with respect "
                                 f"to the layer {type(layer).__name__}: {exc}") from exc
    weights = grad.mean(dim=tuple(range(2, grad.dim())), keepdim=True)
    cam = (weights * act).sum(1, keepdim=True).detach()
    return F.relu(cam) if relu else cam


def _cam(ctx: Context, x: Tensor, target: Tensor, extra: tuple) -> Tensor:
    cam = layer_gradcam(ctx.forward, ctx.state["layer"], x, extra,
                        relu=bool(ctx.params["relu_attributions"]))
    return upsample(cam, x, ctx.modality, ctx.params["interpolate_mode"])


def run_gradcam(ctx: Context, x: Tensor, target: Tensor, extra: tuple, rows: Tensor) -> Tensor:
    """GradCAM map; for text one score per token ``(B, L)`` instead of broadcasting over D."""
    cam = _cam(ctx, x, target, extra)
    return cam[..., 0] if ctx.modality == "text" else cam


def run_guided_gradcam(
    ctx: Context, x: Tensor, target: Tensor, extra: tuple, rows: Tensor
) -> Tensor:
    """Guided Backprop ⊙ up-sampled GradCAM (Selvaraju et al.; [OBJ] §4.1)."""
    return guided_backprop(ctx, x, extra) * _cam(ctx, x, target, extra)


_GRADCAM_DEFAULTS = {"layer": None, "relu_attributions": True, "interpolate_mode": None}

GRADCAM_METHODS: tuple[Method, ...] = (
    Method(
        "gradcam", "gradient",
        "GradCAM on the last Conv1d/Conv2d (or layer=), up-sampled to the input [OBJ] §4.1",
        needs=("conv_layer",), defaults=dict(_GRADCAM_DEFAULTS), references=("OBJ",),
        run=run_gradcam, resolve=resolve_gradcam, row_elements=lambda params, numel: numel,
    ),
    Method(
        "guided_gradcam", "gradient",
        "Guided Backprop times up-sampled GradCAM [OBJ] §4.1",
        needs=("conv_layer",), defaults=dict(_GRADCAM_DEFAULTS), references=("OBJ",),
        run=run_guided_gradcam, resolve=resolve_gradcam, row_elements=lambda params, numel: numel,
    ),
)
