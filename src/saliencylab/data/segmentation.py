"""Segmentation data: labels per time step, "no class" = 0.

[OBJ] (Löffler et al., *Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
Series*, arXiv 2203.07861) evaluates the localization of saliency maps on segmentation models of
the tool-tracking IMU data (Fraunhofer IIS, github.com/mutschcr/tool-tracking). This module gives

* :func:`load_synthetic_segmentation` — a synthetic stand-in with known segments: multichannel
  Gaussian noise with up to ``max_segments`` non-overlapping segments per sample, each of a class
  ``1..K`` whose signature lives on its own channels (class 1, 4, ...: a sine burst; 2, 5, ...: a
  level shift; 3, 6, ...: a square wave; the period grows with every further group of three).
  ``y`` is ``(N, T)`` with 0 = no class; ``mask`` ``(N, T, F)`` marks the cells a signature was
  added to (the ground truth); ``background()`` draws the noise alone. Vectorised and seeded;
* :func:`load_tool_tracking` — a reader of the tool-tracking data's published layout for users
  who have downloaded it (see its docstring), windowed into the same dataset class;
* :func:`label_segments` — the labelled segments ``(sample, start, end, class)`` of ``(N, T)``
  labels.

Example:
    >>> data = load_synthetic_segmentation(n_train=20, n_test=5)
    >>> tuple(data.test.x.shape), tuple(data.test.y.shape), data.n_classes
    ((5, 200, 6), (5, 200), 4)
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from saliencylab.data.dataset import Dataset, Split
from saliencylab.errors import ConfigError, InvalidDataError, SaliencyLabError, ShapeError
from saliencylab.settings import CheckedModel
from saliencylab.utils import make_generator

__all__ = [
    "SIGNATURES",
    "SegmentationConfig",
    "SegmentationDataset",
    "SegmentationSplit",
    "generate_segmentation",
    "label_segments",
    "load_synthetic_segmentation",
    "load_tool_tracking",
    "run_ids",
    "write_tool_tracking_example",
]

#: Signature kinds of the synthetic classes, cycled over classes 1, 2, 3, 4, ...
SIGNATURES: tuple[str, ...] = ("sine", "shift", "square")


#: Former names: a segmentation split / dataset is a :class:`~saliencylab.data.Split` /
#: :class:`~saliencylab.data.Dataset` whose ``y`` is ``(N, T)`` and whose ``task`` (from
#: ``meta["task"]``) is "segmentation". Kept so existing imports work.
SegmentationSplit = Split
SegmentationDataset = Dataset


# ---------------------------------------------------------------------------------------------
# Segments of label sequences


def run_ids(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximal runs of equal values along the last axis of ``y`` ``(N, T)``.

    Returns ``(ids, starts)``: ``ids`` ``(N, T)`` numbers the runs 0, 1, ... across the whole
    batch (row-major), ``starts`` ``(N, T)`` is the first step of the run each step is in.

    Example:
        >>> ids, starts = run_ids(torch.tensor([[0, 1, 1, 0], [2, 2, 0, 0]]))
        >>> ids.tolist(), starts.tolist()
        ([[0, 1, 1, 2], [3, 3, 4, 4]], [[0, 1, 1, 3], [0, 0, 2, 2]])
    """
    if y.dim() != 2:
        raise ShapeError(f"labels must be (N, T), got {tuple(y.shape)}")
    n, t = y.shape
    new = torch.ones_like(y, dtype=torch.bool)
    new[:, 1:] = y[:, 1:] != y[:, :-1]
    ids = torch.cumsum(new.flatten().long(), 0).view(n, t) - 1
    steps = torch.arange(t, device=y.device).expand(n, t)
    starts = torch.cummax(torch.where(new, steps, torch.zeros_like(steps)), dim=1).values
    return ids, starts


def label_segments(y: torch.Tensor, background: int = 0) -> torch.Tensor:
    """The labelled segments of per-step labels ``y`` ``(N, T)``: rows ``(sample, start, end,
    class)`` with ``end`` exclusive, in sample then time order; ``background`` runs are skipped.

    Example:
        >>> label_segments(torch.tensor([[0, 2, 2, 0, 1], [3, 3, 3, 0, 0]])).tolist()
        [[0, 1, 3, 2], [0, 4, 5, 1], [1, 0, 3, 3]]
    """
    ids, starts = run_ids(y)
    first = torch.ones_like(y, dtype=torch.bool)
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    last = torch.ones_like(y, dtype=torch.bool)
    last[:, :-1] = ids[:, 1:] != ids[:, :-1]
    keep_first = first & (y != background)
    rows, begin = keep_first.nonzero(as_tuple=True)
    _, end = (last & (y != background)).nonzero(as_tuple=True)
    return torch.stack([rows, begin, end + 1, y[rows, begin]], dim=1)


# ---------------------------------------------------------------------------------------------
# Synthetic segmentation data


class SegmentationConfig(CheckedModel):
    """Everything that determines a synthetic segmentation dataset.

    ``n_classes`` counts the "no class" label 0, so there are ``n_classes - 1`` segment classes.
    Time is cut into ``max_segments`` equal slots; each slot holds a segment with probability
    ``p_segment`` (every sample gets at least one), of a uniform class, a uniform length in
    ``[min_length, min(max_length, slot)]`` and a uniform start inside the slot.

    Example:
        >>> SegmentationConfig().n_val
        50
    """

    n_train: int = Field(500, ge=2, le=10_000_000)
    n_test: int = Field(100, ge=1, le=10_000_000)
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    n_time: int = Field(200, ge=2, le=1_000_000)
    n_features: int = Field(6, ge=1, le=100_000)
    n_classes: int = Field(4, ge=2, le=1000)
    max_segments: int = Field(3, ge=1, le=10_000)
    min_length: int = Field(20, ge=1)
    max_length: int = Field(50, ge=1)
    p_segment: float = Field(0.75, gt=0.0, le=1.0)
    amplitude: float = Field(1.0, gt=0.0, allow_inf_nan=False)
    noise: float = Field(0.3, ge=0.0, allow_inf_nan=False)
    base_period: float = Field(10.0, gt=0.0, allow_inf_nan=False)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> SegmentationConfig:
        if self.max_length < self.min_length:
            raise ValueError(f"max_length {self.max_length} < min_length {self.min_length}")
        if self.slot < self.min_length:
            raise ValueError(
                f"n_time={self.n_time} cut into max_segments={self.max_segments} slots gives "
                f"{self.slot} steps per slot, fewer than min_length={self.min_length}"
            )
        if self.n_train - self.n_val < 1:
            raise ValueError(f"val_fraction={self.val_fraction} leaves no training sample")
        return self

    @property
    def slot(self) -> int:
        """Steps per slot, ``n_time // max_segments``."""
        return self.n_time // self.max_segments

    @property
    def n_val(self) -> int:
        return int(round(self.val_fraction * self.n_train))

    def class_names(self) -> list[str]:
        """``"no class"`` then ``"<signature>-<period>"`` of each class."""
        names = ["no class"]
        for c in range(1, self.n_classes):
            kind, period = self.signature(c)
            names.append(f"{kind}-{period:g}")
        return names

    def signature(self, c: int) -> tuple[str, float]:
        """Kind and period (in steps) of class ``c >= 1``."""
        group = (c - 1) // len(SIGNATURES)
        return SIGNATURES[(c - 1) % len(SIGNATURES)], self.base_period * (1 + 0.5 * group)

    def channel_mask(self) -> torch.Tensor:
        """``(n_classes, F)`` bool: the channels each class's signature is added to (row 0 empty).

        With ``F >= K`` segment classes, class c owns the channels ``f % K == c - 1``; with fewer
        channels, class c uses channel ``(c - 1) % F`` (classes sharing a channel differ in kind
        or period).
        """
        k, f = self.n_classes - 1, torch.arange(self.n_features)
        rows = [torch.zeros(self.n_features, dtype=torch.bool)]
        for c in range(1, self.n_classes):
            rows.append(f % k == c - 1 if self.n_features >= k else f == (c - 1) % self.n_features)
        return torch.stack(rows)


def _waves(config: SegmentationConfig, cls: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Signature value of class ``cls`` (N, S) at phase ``tau`` (N, S, T) steps into a segment."""
    k = len(SIGNATURES)
    kind = ((cls - 1) % k)[..., None]
    period = config.base_period * (1 + 0.5 * ((cls - 1) // k).to(tau.dtype))[..., None]
    sine = torch.sin(2 * math.pi * tau / period)
    square = torch.where(sine >= 0, 1.0, -1.0)
    return torch.where(kind == 0, sine, torch.where(kind == 1, torch.ones_like(sine), square))


def _draw_noise(config: SegmentationConfig, n: int, generator: torch.Generator) -> torch.Tensor:
    return config.noise * torch.randn(n, config.n_time, config.n_features, generator=generator,
                                      device=generator.device)


def _make_split(config: SegmentationConfig, n: int, g: torch.Generator) -> Split:
    dev = g.device
    s, t, slot = config.max_segments, config.n_time, config.slot
    used = torch.rand(n, s, generator=g, device=dev) < config.p_segment
    forced = torch.randint(0, s, (n,), generator=g, device=dev)
    used |= (~used.any(1))[:, None] & (torch.arange(s, device=dev)[None, :] == forced[:, None])
    cls = torch.randint(1, config.n_classes, (n, s), generator=g, device=dev)
    hi = min(config.max_length, slot)
    length = torch.randint(config.min_length, hi + 1, (n, s), generator=g, device=dev)
    room = slot - length + 1
    offset = (torch.rand(n, s, generator=g, device=dev) * room).long().clamp(max=room - 1)
    start = torch.arange(s, device=dev)[None, :] * slot + offset
    steps = torch.arange(t, device=dev)[None, None, :]
    inside = used[..., None] & (steps >= start[..., None]) & (steps < (start + length)[..., None])
    tau = (steps - start[..., None]).to(torch.float32)
    wave = _waves(config, cls, tau) * inside
    channels = config.channel_mask().to(dev)[cls].to(torch.float32)  # (N, S, F)
    x = _draw_noise(config, n, g)
    x = x + config.amplitude * torch.einsum("nst,nsf->ntf", wave, channels)
    y = (inside.long() * cls[..., None]).sum(1)
    mask = torch.einsum("nst,nsf->ntf", inside.to(torch.float32), channels) > 0
    return Split(x=x, y=y, mask=mask)


def generate_segmentation(config: SegmentationConfig) -> Dataset:
    """Generate ``config``'s dataset in memory; deterministic given ``config.seed``.

    Example:
        >>> d = generate_segmentation(SegmentationConfig(n_train=10, n_test=4, seed=1))
        >>> bool((d.test.mask.any(-1) == (d.test.y > 0)).all())
        True
    """
    g = make_generator(config.seed)
    sizes = {"train": config.n_train - config.n_val, "val": config.n_val, "test": config.n_test}
    splits = {name: _make_split(config, n, g) for name, n in sizes.items()}
    meta = {
        "name": "SyntheticSegmentation",
        "task": "segmentation",
        "n_classes": config.n_classes,
        "class_names": config.class_names(),
        "background_label": 0,
        "channels": {name: config.channel_mask()[c].nonzero().flatten().tolist()
                     for c, name in enumerate(config.class_names()) if c > 0},
        "has_mask": True,
    }
    return Dataset(config=config, train=splits["train"], val=splits["val"], test=splits["test"],
                   meta=meta, background_fn=partial(_draw_noise, config))


def load_synthetic_segmentation(
    config: SegmentationConfig | None = None, **overrides: Any
) -> Dataset:
    """The synthetic segmentation dataset of ``config`` (or of the defaults with ``overrides``).

    Generation is a handful of batched tensor operations (milliseconds for the defaults), so it
    is not cached on disk.

    Example:
        >>> data = load_synthetic_segmentation(n_train=10, n_test=2, n_classes=3)
        >>> data.meta["class_names"]
        ['no class', 'sine-10', 'shift-10']
    """
    if config is None:
        config = SegmentationConfig(**overrides)
    elif overrides:
        config = SegmentationConfig(**{**config.model_dump(), **overrides})
    return generate_segmentation(config)


# ---------------------------------------------------------------------------------------------
# Tool-tracking data (Fraunhofer IIS)

_DATA_FILE = re.compile(r"^(acc|gyr|mag|mic|pos|vel)-(\d{1,2})-(\d+(?:\.\d+)?)$", re.IGNORECASE)


def _read_annotation(header: Path) -> tuple[np.ndarray, dict[int, str]]:
    """NOVA discrete annotation: rows (start s, end s, label id) and the scheme {id: name}."""
    try:
        root = ElementTree.parse(header).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise InvalidDataError(f"cannot parse the annotation header {header}: {exc}") from exc
    schemes = [c for c in root if c.tag == "scheme"]
    if not schemes or schemes[0].attrib.get("type", "DISCRETE") != "DISCRETE":
        raise InvalidDataError(f"{header} holds no DISCRETE annotation scheme")
    names = {int(item.attrib["id"]): item.attrib["name"] for item in schemes[0]
             if "id" in item.attrib and "name" in item.attrib}
    data_file = header.with_suffix(".annotation~")
    if not data_file.is_file():
        raise InvalidDataError(f"annotation data file {data_file} is missing")
    rows = np.loadtxt(data_file, delimiter=";", ndmin=2)
    if rows.size and rows.shape[1] < 3:
        raise InvalidDataError(f"{data_file}: expected 'start;end;label id;confidence' rows")
    return rows[:, :3] if rows.size else np.zeros((0, 3)), names


def _read_sensor(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A sensor CSV (';'-separated, header row): time column (s) and feature columns."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=";")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InvalidDataError(f"cannot parse {path}: {exc}") from exc
    time_cols = [c for c in frame.columns if str(c).strip().lower().startswith("time")]
    features = [c for c in frame.columns if c not in time_cols and str(c).strip() != "label"]
    if not features:
        raise InvalidDataError(f"{path} has no feature columns besides time/label")
    sr = float(_DATA_FILE.match(path.stem).group(3))
    time = (frame[time_cols[0]].to_numpy(np.float64) if time_cols
            else np.arange(len(frame)) / sr)
    return time, frame[features].to_numpy(np.float64), [str(c) for c in features]


def _measurements(folder: Path, tool: str | None) -> dict[tuple[Path, str], dict[str, Path]]:
    """``{(directory, id): {data type: csv path}}`` of every measurement under ``folder``."""
    found: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in sorted(folder.rglob("*.csv")):
        match = _DATA_FILE.match(path.stem)
        if match is None:
            continue
        if tool is not None and tool not in path.parent.parts:
            continue
        key = (path.parent, f"{int(match.group(2)):02d}")
        found.setdefault(key, {})[match.group(1).lower()] = path
    return found


def _labels_for(directory: Path, mid: str, n: int, sr: float) -> tuple[np.ndarray, dict]:
    """Per-sample label ids (-1 = not annotated) of measurement ``mid``, as datatools does:
    segment [start, end) seconds -> samples [round(start*sr), round(end*sr))."""
    header = directory / f"data-{mid}.annotation"
    if not header.is_file():
        header = directory / f"data-{int(mid)}.annotation"
    y = np.full(n, -1, dtype=np.int64)
    if not header.is_file():
        return y, {}
    rows, names = _read_annotation(header)
    for start, end, label in rows:  # few segments per measurement; files are parsed once
        y[int(round(start * sr)): int(round(end * sr))] = int(label)
    return y, names


def load_tool_tracking(
    folder: str | Path,
    *,
    tool: str | None = None,
    data_types: Sequence[str] = ("acc", "gyr"),
    window: int = 200,
    stride: int | None = None,
    background_classes: Sequence[str] = (),
    split_by: Literal["measurement", "window"] = "measurement",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    normalize: bool = True,
    seed: int = 0,
) -> Dataset:
    """Windows of the tool-tracking dataset (Fraunhofer IIS) as a segmentation dataset.

    The published layout (github.com/mutschcr/tool-tracking, its ``datatools`` reader) is
    ``<root>/<tool>/<series>/`` with, per measurement ``<id>`` (two digits):

    * ``<TYPE>-<id>-<sampling rate>.csv`` for each sensor ``TYPE`` in ACC, GYR, MAG, MIC, POS,
      VEL: ``;``-separated, a header row, a ``time [s]`` column and one column per axis;
    * ``data-<id>.annotation`` (NOVA XML: ``<scheme type="DISCRETE">`` with ``<item name id>``)
      and ``data-<id>.annotation~`` (rows ``start;end;label id;confidence``, seconds).

    The first of ``data_types`` sets the time grid; the others are linearly interpolated onto it.
    A segment ``[start, end)`` labels samples ``round(start·sr)`` to ``round(end·sr)`` (as
    ``datatools`` does). Classes are matched by **name** across files: class 0 ("no class") is
    every step without annotation (or annotated -1, "garbage") plus ``background_classes``; the
    other names get 1..K in sorted order (``meta["class_names"]``). Each measurement is cut into
    windows of ``window`` steps every ``stride`` (default ``window``) steps; a trailing partial
    window is dropped.

    Args:
        folder: the data root, a tool folder or a measurement-series folder.
        tool: only measurements below a folder of this name (e.g. "electric_screwdriver").
        data_types: sensors to read, in feature order (their axes become features).
        window, stride: window length and step in samples of the first sensor.
        background_classes: class names folded into "no class" (e.g. ("undefined",)).
        split_by: "measurement" keeps all windows of a measurement in one split (needs at least
            3 measurements); "window" splits windows at random.
        val_fraction, test_fraction: split sizes; seeded by ``seed``.
        normalize: z-normalise each feature with the training split's mean and std.

    Returns:
        A segmentation :class:`~saliencylab.data.Dataset` with ``x`` ``(N, window, F)``, ``y``
        ``(N, window)``, ``mask=None``; ``meta`` holds ``class_names``, ``features``,
        ``measurements`` per split.

    Example:
        >>> data = load_tool_tracking("tool-tracking-data", tool="electric_screwdriver")
        ... # doctest: +SKIP
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SaliencyLabError(f"tool-tracking folder {str(root)!r} does not exist")
    types = [str(d).lower() for d in data_types]
    bad = [d for d in types if not re.fullmatch(r"acc|gyr|mag|mic|pos|vel", d)]
    if not types or bad:
        raise ConfigError(f"data_types must name sensors among acc, gyr, mag, mic, pos, vel; "
                          f"got {list(data_types)!r}")
    for name, value in (("window", window), ("stride", window if stride is None else stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    stride = window if stride is None else stride
    if split_by not in ("measurement", "window"):
        raise ConfigError(f"split_by must be 'measurement' or 'window', got {split_by!r}")
    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"need 0 <= val_fraction, 0 < test_fraction and their sum < 1; got "
                          f"{val_fraction} and {test_fraction}")

    found = _measurements(root, tool)
    complete = {k: v for k, v in sorted(found.items()) if all(d in v for d in types)}
    if not complete:
        raise SaliencyLabError(
            f"no measurement with all of {types} found under {str(root)!r}"
            f"{f' for tool {tool!r}' if tool else ''}; expected files like "
            f"<tool>/<series>/ACC-01-102.3.csv with data-01.annotation(~)"
        )

    per_measurement = []
    for (directory, mid), files in complete.items():
        time, x_ref, names_ref = _read_sensor(files[types[0]])
        sr = float(_DATA_FILE.match(files[types[0]].stem).group(3))
        columns, features = [x_ref], [f"{types[0]}:{c}" for c in names_ref]
        for d in types[1:]:
            t_o, x_o, names_o = _read_sensor(files[d])
            columns.append(np.stack([np.interp(time, t_o, x_o[:, j])
                                     for j in range(x_o.shape[1])], axis=1))
            features += [f"{d}:{c}" for c in names_o]
        labels, scheme = _labels_for(directory, mid, len(time), sr)
        per_measurement.append((f"{directory.name}/{mid}", np.concatenate(columns, 1), labels,
                                scheme, features))
    feature_sets = {tuple(m[4]) for m in per_measurement}
    if len(feature_sets) != 1:
        raise InvalidDataError(f"measurements have different sensor columns: {feature_sets}")

    folded = set(background_classes)
    names = sorted({n for m in per_measurement for i, n in m[3].items()
                    if i != -1 and n not in folded and (m[2] == i).any()})
    index = {n: k + 1 for k, n in enumerate(names)}
    windows = []  # (measurement, x windows, y windows)
    for mname, x, ids, scheme, _ in per_measurement:
        uniq, inverse = np.unique(ids, return_inverse=True)
        y = np.array([index.get(scheme.get(int(i), ""), 0) for i in uniq],
                     dtype=np.int64)[inverse.reshape(-1)]
        if len(x) < window:
            continue
        starts = np.arange(0, len(x) - window + 1, stride)
        take = starts[:, None] + np.arange(window)[None, :]
        windows.append((mname, torch.from_numpy(x[take]).float(), torch.from_numpy(y[take])))
    if not windows:
        raise SaliencyLabError(f"every measurement is shorter than window={window} samples")

    g = make_generator(seed)
    if split_by == "measurement":
        m = len(windows)
        if m < 3:
            raise ConfigError(f"split_by='measurement' needs at least 3 measurements, found {m}; "
                              f"use split_by='window'")
        order = torch.randperm(m, generator=g).tolist()
        n_test = max(1, math.ceil(test_fraction * m))
        n_val = min(m - n_test - 1, math.ceil(val_fraction * m)) if val_fraction > 0 else 0
        groups = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
                  "train": order[n_test + n_val:]}
        parts = {s: (torch.cat([windows[i][1] for i in idx]) if idx else
                     torch.empty(0, window, windows[0][1].shape[2]),
                     torch.cat([windows[i][2] for i in idx]) if idx else
                     torch.empty(0, window, dtype=torch.long))
                 for s, idx in groups.items()}
        measurements = {s: sorted(windows[i][0] for i in idx) for s, idx in groups.items()}
    else:
        x_all = torch.cat([w[1] for w in windows])
        y_all = torch.cat([w[2] for w in windows])
        order = torch.randperm(len(x_all), generator=g)
        n_test = max(1, math.ceil(test_fraction * len(x_all)))
        n_val = int(round(val_fraction * len(x_all)))
        idx = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
               "train": order[n_test + n_val:]}
        parts = {s: (x_all[i.sort().values], y_all[i.sort().values]) for s, i in idx.items()}
        measurements = {s: sorted(w[0] for w in windows) for s in idx}
    if len(parts["train"][0]) == 0:
        raise ConfigError("the training split is empty; lower val_fraction / test_fraction")

    stats = None
    if normalize:
        mean = parts["train"][0].mean(dim=(0, 1))
        std = parts["train"][0].std(dim=(0, 1))
        std = torch.where(std < 1e-8, torch.ones_like(std), std)
        parts = {s: ((x - mean) / std, y) for s, (x, y) in parts.items()}
        stats = {"mean": mean.tolist(), "std": std.tolist()}
    splits = {s: Split(x=x, y=y) for s, (x, y) in parts.items()}
    meta = {
        "name": "ToolTracking" + (f"-{tool}" if tool else ""),
        "task": "segmentation",
        "n_classes": len(names) + 1,
        "class_names": ["no class", *names],
        "background_label": 0,
        "features": per_measurement[0][4],
        "measurements": measurements,
        "window": window,
        "stride": stride,
        "normalization": stats,
        "source": str(root),
        "has_mask": False,
    }
    config = {"folder": str(root), "tool": tool, "data_types": types, "window": window,
              "stride": stride, "background_classes": sorted(folded), "split_by": split_by,
              "val_fraction": val_fraction, "test_fraction": test_fraction,
              "normalize": normalize, "seed": seed}
    return Dataset(config=config, train=splits["train"], val=splits["val"], test=splits["test"],
                   meta=meta)


def write_tool_tracking_example(
    folder: str | Path, n_measurements: int = 3, n_samples: int = 400, seed: int = 0
) -> Path:
    """Write a tiny dataset in the tool-tracking layout (for tests and trying the loader).

    Measurements ``01..n`` of tool ``test_tool``, series ``test-00-20200202``: ACC and GYR at
    100 Hz (GYR on a time grid shifted by half a sample), annotated with "tightening" and
    "untightening" segments in a NOVA annotation pair; ``info.json`` as ``datatools`` writes it.
    Returns the series folder.

    Example:
        >>> import tempfile
        >>> series = write_tool_tracking_example(tempfile.mkdtemp())
        >>> sorted(p.name for p in series.iterdir())[:3]
        ['ACC-01-100.csv', 'ACC-02-100.csv', 'ACC-03-100.csv']
    """
    rng = np.random.default_rng(seed)
    series = Path(folder) / "test_tool" / "test-00-20200202"
    series.mkdir(parents=True, exist_ok=True)
    sr = 100.0
    info = {"date": "01/01/2020", "tool": "test_tool", "model": "model xyz",
            "work_piece": "work piece xyz", "measurements": []}
    for m in range(1, n_measurements + 1):
        mid = f"{m:02d}"
        time = np.arange(n_samples) / sr
        for sensor, unit, shift in (("ACC", "m/s^2", 0.0), ("GYR", "deg/s", 0.5 / sr)):
            values = rng.normal(size=(n_samples, 3))
            header = ["time [s]"] + [f"{sensor.lower()} {a}-axis [{unit}]" for a in "xyz"]
            body = np.column_stack([time + shift, values])
            lines = [";".join(header)] + [";".join(f"{v:.6f}" for v in row) for row in body]
            (series / f"{sensor}-{mid}-{sr:g}.csv").write_text("\n".join(lines) + "\n")
        xml = ('<?xml version="1.0" ?>\n<annotation ssi-v="3">\n'
               '  <info ftype="ASCII" size="3"/>\n  <meta annotator="test"/>\n'
               '  <scheme name="tool" type="DISCRETE" color="#FFFFFFFF">\n'
               '    <item name="no_action" id="0" color="#FFD3D3D3"/>\n'
               '    <item name="tightening" id="2" color="#FF1F77B4"/>\n'
               '    <item name="untightening" id="3" color="#FFFF7F0E"/>\n'
               '  </scheme>\n</annotation>\n')
        (series / f"data-{mid}.annotation").write_text(xml)
        rows = ["0.5;1.0;2;1.0", "1.2;1.5;0;1.0", "2.0;2.6;3;1.0", "3.0;3.2;-1;1.0"]
        (series / f"data-{mid}.annotation~").write_text("\n".join(rows) + "\n")
        info["measurements"].append({"id": mid, "test_person": "xyz", "time": f"{mid}:00",
                                     "module": "xyz", "model_id": "01",
                                     "tool_settings": {"tool_setting_1": 0}})
    (series / "info.json").write_text(json.dumps(info, indent=4))
    return series
