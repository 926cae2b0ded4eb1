"""Real time-series classification data: the UCR / UEA archives, by name or from a folder.

[OBJ] (Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
Series") evaluates its saliency metrics on UCR / UEA problems (GunPointAgeSpan, FordA, FordB,
MelbournePedestrian, NATOPS, ElectricDevices). :func:`load_ucr` turns any of them into the same
:class:`~saliencylab.data.Dataset` the synthetic benchmark uses:

* **where the data comes from** — without ``folder``, aeon's ``load_classification``: the problems
  aeon ships (:func:`shipped_datasets`: GunPoint, ArrowHead, ItalyPowerDemand, BasicMotions,
  JapaneseVowels, ... ) load offline, any other archive name is downloaded by aeon when online.
  With ``folder``, ``<folder>/<name>/<name>_TRAIN.ts`` and ``_TEST.ts`` (aeon's ``.ts`` format),
  the UCR 2018 ``.tsv`` files (label in the first column, tab-separated, trailing NaN padding for
  variable-length series) or the archive's ``.arff`` files are read; ``<folder>/<name>_TRAIN.*``
  works too. Names match ignoring case (``gunpoint`` is ``GunPoint``) and must be plain names
  (no path separators or ``..``);
* **layout** — channels become our features axis: ``x`` is ``(N, T, F)`` float32;
* **z-normalisation** (``normalize=True``) per series and per channel over its own length
  (population std; a constant channel becomes 0);
* **ragged series** (e.g. JapaneseVowels, 7..29 steps) are padded at the end to the longest
  series of train and test, with zeros (``padding="zero"``, the z-normalised mean) or the last
  observed value (``padding="last"``); the true lengths are each split's ``lengths`` (``(N,)``;
  None when every series has the full length);
* **labels** are mapped to ``0..C-1`` in the archive's declared class order (``@classLabel`` of a
  ``.ts`` file or the class attribute of an ``.arff`` file; sorted labels for ``.tsv``); the
  original names are ``meta["class_names"]``;
* **validation** is carved out of the training split, stratified by class and seeded; the test
  split is the archive's test file and is never touched for selection.

Real data has no ground-truth importance: ``split.mask`` is ``None`` (ground-truth metrics do not
apply), and :meth:`Dataset.background` raises ``NotApplicableError`` since there is no
generating process to draw uninformative samples from.

The processed tensors are cached in ``cache_dir()/ucr/`` keyed by the options and the source
files, so a large archive file is parsed once.

Example:
    >>> from saliencylab.data import load_ucr
    >>> data = load_ucr("GunPoint", cache=False)
    >>> tuple(data.train.x.shape), tuple(data.val.x.shape), tuple(data.test.x.shape)
    ((40, 150, 1), (10, 150, 1), (150, 150, 1))
    >>> data.meta["class_names"], data.train.mask is None
    (['1', '2'], True)
"""

from __future__ import annotations

import difflib
import os
import re
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from saliencylab.data.cache import cached_dataset
from saliencylab.data.dataset import Dataset, Split
from saliencylab.data.names import canonical_name, check_name
from saliencylab.errors import ConfigError, InvalidDataError, SaliencyLabError
from saliencylab.settings import CheckedModel
from saliencylab.utils import cache_dir, make_generator, stable_hash

__all__ = [
    "ARCHIVE_EXTENSIONS",
    "SHIPPED_DATASETS",
    "UCRConfig",
    "aeon_archive_names",
    "archive_name",
    "find_archive_files",
    "load_ucr",
    "shipped_datasets",
    "stratified_split",
    "znormalize",
]

# Bump when the processing or the cache payload changes, so old cache files are not reused.
# 2: splits carry ``lengths``; ``meta["lengths"]`` is gone.
UCR_FORMAT_VERSION = 2

#: Classification problems aeon 1.x ships inside its wheel (they load without a network).
SHIPPED_DATASETS: tuple[str, ...] = (
    "ACSF1",
    "ArrowHead",
    "BasicMotions",
    "GunPoint",
    "ItalyPowerDemand",
    "JapaneseVowels",
    "OSULeaf",
    "PickupGestureWiimoteZ",
)

_SPLITS = ("TRAIN", "TEST")

#: File formats read from a folder, in order of preference: aeon's ``.ts``, the UCR 2018 ``.tsv``
#: and the archive's Weka ``.arff``.
ARCHIVE_EXTENSIONS: tuple[str, ...] = (".ts", ".tsv", ".arff")

#: The folder layout a name is looked up in (for messages).
FOLDER_LAYOUT = ("<dir>/<Name>/<Name>_TRAIN.ts and <Name>_TEST.ts (or .tsv, UCR 2018 format, or "
                 ".arff), or <dir>/<Name>_TRAIN.ts and _TEST.ts")


class UCRConfig(CheckedModel):
    """Everything that determines a loaded UCR/UEA dataset (its hash is the cache key).

    Example:
        >>> UCRConfig(name="GunPoint").val_fraction
        0.2
    """

    name: str = Field(min_length=1)
    folder: str | None = None
    normalize: bool = True
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    seed: int = Field(0, ge=0)
    padding: Literal["zero", "last"] = "zero"


# ---------------------------------------------------------------------------------------------
# Helpers on tensors


def znormalize(x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Z-normalise each series and channel of ``x`` ``(N, T, F)`` over its first ``lengths[n]``
    steps (all ``T`` when None); steps beyond a series' length are returned unchanged.

    Population standard deviation (ddof 0); a constant channel (std < 1e-8) becomes 0.

    Example:
        >>> z = znormalize(torch.tensor([[[1.0], [2.0], [3.0], [9.0]]]), torch.tensor([3]))
        >>> [round(v, 4) for v in z[0, :, 0].tolist()]
        [-1.2247, 0.0, 1.2247, 9.0]
    """
    n, t = x.shape[:2]
    if lengths is None:
        lengths = torch.full((n,), t, dtype=torch.long, device=x.device)
    valid = (torch.arange(t, device=x.device)[None, :] < lengths[:, None])[..., None]  # (N,T,1)
    count = lengths.clamp(min=1).to(x.dtype)[:, None, None]
    mean = (x * valid).sum(1, keepdim=True) / count
    var = (((x - mean) * valid) ** 2).sum(1, keepdim=True) / count
    std = var.sqrt()
    std = torch.where(std < 1e-8, torch.ones_like(std), std)
    z = (x - mean) / std
    return torch.where(valid, z, x)


def _pad(x: torch.Tensor, lengths: torch.Tensor, padding: str) -> torch.Tensor:
    """Fill the steps of ``x`` ``(N, T, F)`` beyond each series' length with 0 or its last value."""
    t = x.shape[1]
    valid = (torch.arange(t, device=x.device)[None, :] < lengths[:, None])[..., None]
    if padding == "zero":
        fill = torch.zeros_like(x)
    else:
        last = (lengths - 1).clamp(min=0)[:, None, None].expand(-1, 1, x.shape[2])
        fill = x.gather(1, last).expand_as(x)
    return torch.where(valid, x, fill)


def stratified_split(
    y: torch.Tensor, val_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, val)`` of a seeded split of labels ``y`` (N,), stratified by class.

    Each class c contributes ``round(val_fraction * n_c)`` samples to validation, but at least
    one of its samples stays in training. Both index tensors are sorted.

    Example:
        >>> y = torch.tensor([0] * 10 + [1] * 5)
        >>> tr, va = stratified_split(y, 0.2, torch.Generator().manual_seed(0))
        >>> len(tr), y[va].bincount().tolist()
        (12, [2, 1])
    """
    n = len(y)
    if n == 0:
        return y.new_empty(0), y.new_empty(0)
    perm = torch.randperm(n, generator=generator)
    idx = perm[torch.sort(y[perm], stable=True).indices]  # grouped by class, random inside
    ys = y[idx]
    counts = torch.bincount(ys)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - starts[ys]
    n_val = torch.round(counts.double() * val_fraction).long()
    n_val = torch.minimum(n_val, (counts - 1).clamp(min=0))
    is_val = rank < n_val[ys]
    return idx[~is_val].sort().values, idx[is_val].sort().values


# ---------------------------------------------------------------------------------------------
# Reading


def shipped_datasets() -> list[str]:
    """The names of :data:`SHIPPED_DATASETS` that the installed aeon actually ships."""
    try:
        import aeon
    except ImportError:
        return []
    root = Path(aeon.__file__).parent / "datasets" / "data"
    return [n for n in SHIPPED_DATASETS
            if all((root / n / f"{n}_{s}.ts").is_file() for s in _SPLITS)]


def _require_aeon(what: str):
    try:
        import aeon  # noqa: F401
        from aeon.datasets import load_classification, load_from_ts_file
    except ImportError as exc:
        raise SaliencyLabError(
            f"{what} needs the optional dependency aeon: pip install 'saliencylab[ucr]' "
            f"(or read UCR .tsv or univariate .arff files from a folder, which needs no aeon)"
        ) from exc
    return load_classification, load_from_ts_file


def find_archive_files(folder: Path, name: str) -> tuple[str, dict[str, Path]] | None:
    """``(name as spelled in the folder, {"TRAIN": path, "TEST": path})`` of ``name`` under
    ``folder``, or None: ``<folder>/<name>/<name>_TRAIN<ext>`` then ``<folder>/<name>_TRAIN<ext>``
    for ``ext`` in :data:`ARCHIVE_EXTENSIONS` (in that order), the name matched ignoring case.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for s in ("TRAIN", "TEST"):
        ...     _ = (root / f"Coffee_{s}.tsv").write_text("")
        >>> find_archive_files(root, "coffee")[0]
        'Coffee'
    """
    name = check_name(name)
    if not folder.is_dir():
        raise SaliencyLabError(f"UCR folder {str(folder)!r} does not exist or is not a directory")
    key = name.lower()
    bases = [folder / name] if (folder / name).is_dir() else []
    bases += [d for d in sorted(folder.iterdir()) if d.is_dir() and d.name.lower() == key
              and d.name != name]
    for base in [*bases, folder]:
        files = {p.name.lower(): p for p in sorted(base.iterdir()) if p.is_file()}
        for ext in ARCHIVE_EXTENSIONS:
            found = {}
            for split in _SPLITS:
                exact = base / f"{name}_{split}{ext}"
                other = files.get(f"{key}_{split.lower()}{ext}")
                found[split] = exact if exact.is_file() else other
            if all(found.values()):
                spelled = found["TRAIN"].name[: len(name)]
                return spelled, found
    return None


def _find_files(folder: Path, name: str) -> dict[str, Path]:
    """``{"TRAIN": path, "TEST": path}`` of ``name`` under ``folder`` (SaliencyLabError if none)."""
    found = find_archive_files(folder, name)
    if found is not None:
        return found[1]
    available = sorted({p.name.split("_TRAIN")[0] if "_TRAIN" in p.name else p.name
                        for p in folder.iterdir() if p.is_dir() or "_TRAIN" in p.name})
    close = difflib.get_close_matches(name, available, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise SaliencyLabError(
        f"no {name}_TRAIN / {name}_TEST (.ts, .tsv or .arff) files found in "
        f"{str(folder / name)!r} or {str(folder)!r}.{hint} Expected layout: "
        f"<folder>/<name>/<name>_TRAIN.ts and <name>_TEST.ts (or .tsv, UCR 2018 format, or .arff)"
    )


def aeon_archive_names() -> list[str]:
    """Every UCR/UEA classification problem aeon knows by name (:data:`SHIPPED_DATASETS` when
    aeon is not installed)."""
    try:
        from aeon.datasets.tsc_datasets import multivariate, tsc_zenodo, univariate
    except ImportError:
        return list(SHIPPED_DATASETS)
    return sorted({*SHIPPED_DATASETS, *tsc_zenodo, *univariate, *multivariate})


def archive_name(name: str) -> str | None:
    """The archive's spelling of ``name`` (any case) among aeon's problems, or None.

    Example:
        >>> archive_name("gunpoint")
        'GunPoint'
    """
    return canonical_name(check_name(name), aeon_archive_names())


def _read_tsv(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """A UCR 2018 ``.tsv`` file: label in column 0, values after it; trailing NaN = shorter."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep="\t", header=None, dtype={0: str})
        if frame.shape[1] < 2:  # some copies use commas
            frame = pd.read_csv(path, sep=",", header=None, dtype={0: str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InvalidDataError(f"cannot parse {path} as a UCR .tsv file: {exc}") from exc
    if frame.shape[1] < 2 or len(frame) == 0:
        raise InvalidDataError(f"{path} holds no series (expected 'label<TAB>v1<TAB>v2...')")
    labels = frame.iloc[:, 0].astype(str).str.strip().to_numpy()
    try:
        values = frame.iloc[:, 1:].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:  # a value that is not a number
        raise InvalidDataError(f"{path}: every value after the label must be a number ({exc})"
                               ) from None
    return [row[None, :] for row in values], labels  # (1, L) each: univariate


def _label_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


_NOMINAL = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s*\{(.*)\}\s*$", re.IGNORECASE)


def _arff_header(path: Path) -> tuple[bool, list[str] | None]:
    """Whether an ``.arff`` file is relational (multivariate, UEA) and its declared classes (the
    values of its last nominal attribute), read from the lines before ``@data``."""
    relational, declared = False, None
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                text = line.strip()
                low = text.lower()
                if low.startswith("@data"):
                    break
                if not low.startswith("@attribute"):
                    continue
                parts = low.split()
                relational |= len(parts) >= 3 and parts[2] == "relational"
                match = _NOMINAL.match(text)
                if match:
                    declared = [v.strip().strip("'\"") for v in match.group(2).split(",")]
    except OSError as exc:
        raise InvalidDataError(f"cannot read {path}: {exc}") from exc
    return relational, declared


def _read_arff_scipy(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """A univariate ``.arff`` file with scipy: numeric attributes then a nominal class; ``?``
    (missing) at the end of a row = shorter series."""
    from scipy.io import arff

    try:
        data, meta = arff.loadarff(str(path))
    except (OSError, ValueError, NotImplementedError, arff.ArffError) as exc:
        raise InvalidDataError(f"cannot parse {path} as a univariate .arff file: {exc}") from exc
    names, types = meta.names(), meta.types()
    nominal = [n for n, t in zip(names, types, strict=True) if t == "nominal"]
    numeric = [n for n, t in zip(names, types, strict=True) if t == "numeric"]
    if not nominal or not numeric:
        raise InvalidDataError(f"{path}: expected numeric attributes and a nominal class")
    labels = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in data[nominal[-1]]])
    values = np.stack([data[n].astype(np.float64) for n in numeric], axis=1)
    return [row[None, :] for row in values], labels


def _read_arff(path: Path) -> tuple[Any, np.ndarray, list[str] | None]:
    """An ``.arff`` file of the UCR / UEA archive: aeon's reader (univariate and relational
    multivariate) when aeon is installed, else scipy's (univariate only)."""
    relational, declared = _arff_header(path)
    try:
        from aeon.datasets import load_from_arff_file
    except ImportError:
        if relational:
            _require_aeon(f"reading the multivariate .arff file {path.name}")
        series, labels = _read_arff_scipy(path)
        return series, labels, declared
    try:
        x, y = load_from_arff_file(str(path))
    except (OSError, ValueError, IndexError) as exc:
        raise InvalidDataError(f"cannot parse {path} as an .arff file: {exc}") from exc
    return x, np.char.strip(np.asarray(y).astype(str)), declared


def _read_split(files: dict[str, Path], split: str):
    path = files[split]
    if path.suffix.lower() == ".tsv":
        series, labels = _read_tsv(path)
        return series, labels, None
    if path.suffix.lower() == ".arff":
        return _read_arff(path)
    _, load_from_ts_file = _require_aeon(f"reading {path.name}")
    try:
        x, y, meta = load_from_ts_file(str(path), return_meta_data=True)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"cannot parse {path} as a .ts file: {exc}") from exc
    return x, np.asarray(y).astype(str), meta.get("class_values")


def _load_raw(config: UCRConfig):
    """``{split: (series, labels)}`` plus declared class names, a source description and the
    name of each split's file (for messages)."""
    if config.folder is not None:
        files = _find_files(Path(config.folder).expanduser(), config.name)
        raw = {s: _read_split(files, s) for s in _SPLITS}
        source = {"kind": "folder", "files": {s: str(p) for s, p in files.items()}}
        declared = raw["TRAIN"][2] or raw["TEST"][2]
        names = {s: str(p) for s, p in files.items()}
        return {s: raw[s][:2] for s in _SPLITS}, declared, source, names
    load_classification, _ = _require_aeon(f"loading {config.name!r} by name")
    raw = {}
    for split in _SPLITS:
        try:
            x, y, meta = load_classification(config.name, split=split.lower(),
                                             return_metadata=True)
        except (ValueError, OSError) as exc:
            raise _name_error(config.name, exc) from exc
        raw[split] = (x, np.asarray(y).astype(str), meta.get("class_values"))
    source = {"kind": "aeon", "shipped": config.name in shipped_datasets()}
    names = {s: f"aeon's {config.name}_{s}" for s in _SPLITS}
    return {s: raw[s][:2] for s in _SPLITS}, raw["TRAIN"][2], source, names


def _name_error(name: str, exc: Exception) -> SaliencyLabError:
    shipped = shipped_datasets()
    try:
        from aeon.datasets.tsc_datasets import tsc_zenodo
        known = name in tsc_zenodo
        close = difflib.get_close_matches(name, list(tsc_zenodo), n=3)
    except ImportError:
        known, close = True, []
    if known:
        why = f"aeon could not load or download it ({exc})"
    else:
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        why = f"it is not a UCR/UEA archive name aeon knows{hint}"
    return SaliencyLabError(
        f"cannot load UCR/UEA dataset {name!r}: {why}. Offline, aeon ships only "
        f"{', '.join(shipped) or '(aeon is not installed)'}; for any other dataset download it "
        f"once and pass folder=... (data_dir=... to load_dataset, --data-dir DIR on the command "
        f"line), with the files at <folder>/{name}/{name}_TRAIN.ts and {name}_TEST.ts (or the "
        f"UCR 2018 .tsv files, or .arff)"
    )


def _rows(mask: torch.Tensor, limit: int = 5) -> str:
    """The 1-based rows (series) where ``mask`` (N, ...) holds, as ``"3, 17 and 2 more"``."""
    rows = (mask.reshape(mask.shape[0], -1).any(dim=1).nonzero()[:, 0] + 1).tolist()
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(map(str, rows[:limit])) + more


def _to_tensor(series: Any, where: str = "the data") -> tuple[torch.Tensor, torch.Tensor]:
    """Series (``(N, C, L)`` array or list of ``(C, L_i)``) -> NaN-padded ``(N, Lmax, C)`` float64
    and lengths ``(N,)``; trailing NaN of a row counts as padding (UCR .tsv convention).

    ``InvalidDataError`` naming ``where`` (the file) and the rows, counted from 1 in the file's
    order of series, for inf anywhere and NaN inside a series (before its last observed step).
    """
    if isinstance(series, np.ndarray) and series.ndim == 3:
        arr = series.astype(np.float64, copy=False)
    else:
        items = [np.asarray(s, dtype=np.float64) for s in series]
        if any(s.ndim != 2 for s in items):
            raise InvalidDataError("each series must be 2-D (channels, length)")
        channels = {s.shape[0] for s in items}
        if len(channels) != 1:
            raise InvalidDataError(f"series have different channel counts: {sorted(channels)}")
        lmax = max(s.shape[1] for s in items)
        arr = np.full((len(items), channels.pop(), lmax), np.nan)
        for i, s in enumerate(items):  # one copy per series while parsing a ragged file
            arr[i, :, : s.shape[1]] = s
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 2, 1)))  # (N, L, C)
    infinite = torch.isinf(x)
    if infinite.any():
        n = int(infinite.sum())
        raise InvalidDataError(
            f"{where}: {n} value{' is' if n == 1 else 's are'} inf, in row(s) {_rows(infinite)} "
            "(series counted from 1); fix or drop those series before loading"
        )
    observed = ~torch.isnan(x).all(dim=2)  # (N, L): any channel present at this step
    steps = torch.arange(x.shape[1])
    lengths = torch.where(observed, steps + 1, torch.zeros_like(steps)).amax(dim=1)
    valid = steps[None, :] < lengths[:, None]
    missing = torch.isnan(x) & valid[..., None]
    if missing.any():
        raise InvalidDataError(
            f"{where}: row(s) {_rows(missing)} (series counted from 1) hold missing values (NaN "
            "inside a series, not the trailing NaN padding of a shorter series); load an imputed "
            "version (aeon's '<name>_nmv' files) or impute them before loading"
        )
    if (lengths == 0).any():
        raise InvalidDataError(f"{where}: {int((lengths == 0).sum())} series are empty, in "
                               f"row(s) {_rows(lengths == 0)}")
    return torch.nan_to_num(x, nan=0.0), lengths


def _check_test_labels(train: np.ndarray, test: np.ndarray, where: str) -> None:
    """Every test label must occur in the training file: a class the model never saw would
    otherwise become a new class index that no trained model can predict."""
    unseen = sorted(set(test.tolist()) - set(train.tolist()), key=_label_key)
    if unseen:
        rows = int(np.isin(test, unseen).sum())
        raise InvalidDataError(
            f"{where}: {rows} test series carry labels that do not occur in the training file: "
            f"{', '.join(map(repr, unseen[:10]))}{' ...' if len(unseen) > 10 else ''} (training "
            f"labels: {', '.join(map(repr, sorted(set(train.tolist()), key=_label_key)[:10]))}); "
            "a class absent from training cannot be learned"
        )


def _class_names(labels: list[np.ndarray], declared: list[str] | None) -> list[str]:
    present = set(np.concatenate(labels).tolist())
    if declared:
        declared = [str(c).strip() for c in declared]
        if present <= set(declared):
            return declared
    return sorted(present, key=_label_key)


# ---------------------------------------------------------------------------------------------
# Public loader


def _build(config: UCRConfig) -> Dataset:
    raw, declared, source, where = _load_raw(config)
    tensors = {s: _to_tensor(raw[s][0], where[s]) for s in _SPLITS}
    _check_test_labels(np.asarray(raw["TRAIN"][1]), np.asarray(raw["TEST"][1]), where["TEST"])
    n_channels = {s: t[0].shape[2] for s, t in tensors.items()}
    if n_channels["TRAIN"] != n_channels["TEST"]:
        raise InvalidDataError(
            f"train has {n_channels['TRAIN']} channels but test has {n_channels['TEST']}"
        )
    names = _class_names([raw[s][1] for s in _SPLITS], declared)
    index = {c: i for i, c in enumerate(names)}
    n_time = max(t[0].shape[1] for t in tensors.values())
    out: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for s, (x, lengths) in tensors.items():
        x = torch.nn.functional.pad(x, (0, 0, 0, n_time - x.shape[1]))
        if config.normalize:
            x = znormalize(x, lengths)
        x = _pad(x, lengths, config.padding).float()
        y = torch.tensor([index[str(v)] for v in raw[s][1]], dtype=torch.long)
        out[s] = (x, y, lengths)

    x_tr, y_tr, len_tr = out["TRAIN"]
    tr_idx, va_idx = stratified_split(y_tr, config.val_fraction, make_generator(config.seed))
    x_te, y_te, len_te = out["TEST"]
    ragged = bool((len_tr < n_time).any() or (len_te < n_time).any())
    splits = {
        "train": Split(x_tr[tr_idx], y_tr[tr_idx], lengths=len_tr[tr_idx] if ragged else None),
        "val": Split(x_tr[va_idx], y_tr[va_idx], lengths=len_tr[va_idx] if ragged else None),
        "test": Split(x_te, y_te, lengths=len_te if ragged else None),
    }
    meta = {
        "name": config.name,
        "task": "classification",
        "source": source,
        "n_classes": len(names),
        "class_names": names,
        "n_channels": n_channels["TRAIN"],
        "ragged": ragged,
        "padding": config.padding,
        "normalized": config.normalize,
        "has_mask": False,
    }
    return Dataset(config=config, train=splits["train"], val=splits["val"], test=splits["test"],
                   meta=meta)


def _source_stamp(config: UCRConfig) -> Any:
    """What the cache key needs besides the config: the source files' sizes and mtimes."""
    if config.folder is None:
        try:
            import aeon
        except ImportError:
            return None
        return {"aeon": aeon.__version__}
    try:
        files = _find_files(Path(config.folder).expanduser(), config.name)
    except SaliencyLabError:
        return None
    return {s: [str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns]
            for s, p in files.items()}


def _cache_file(config: UCRConfig, stamp: Any) -> Path:
    key = stable_hash({"config": config, "source": stamp, "version": UCR_FORMAT_VERSION})
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in config.name)
    return cache_dir() / "ucr" / f"{safe}-{key}.pt"


def load_ucr(
    name: str,
    *,
    folder: str | os.PathLike | None = None,
    normalize: bool = True,
    val_fraction: float = 0.2,
    seed: int = 0,
    padding: Literal["zero", "last"] = "zero",
    cache: bool = True,
) -> Dataset:
    """Load a UCR / UEA classification problem as a :class:`~saliencylab.data.Dataset`
    ``(N, T, F)``.

    Args:
        name: archive name, e.g. "GunPoint", "BasicMotions", "FordA" (any case; a plain name,
            never a path).
        folder: read ``<folder>/<name>/<name>_TRAIN.ts|.tsv|.arff`` and ``_TEST`` instead of
            aeon.
        normalize: z-normalise each series per channel over its own length.
        val_fraction: fraction of the training file held out (stratified) for validation.
        seed: seed of the validation split.
        padding: how ragged series are filled up to the longest: "zero" or "last" value.
        cache: read from / write to ``cache_dir()/ucr/``.

    Returns:
        A dataset with ``x`` float32 ``(N, T, F)``, ``y`` int64 in ``0..C-1``, ``mask=None``,
        ``lengths`` ``(N,)`` per split for ragged series; ``meta`` holds ``class_names``,
        ``ragged``, ``source``; ``background()`` raises ``NotApplicableError`` (real data has no
        generating process).

    Raises:
        SaliencyLabError: the name cannot be loaded (offline and not shipped, unknown name, no
            such files in ``folder``) — the message lists the shipped datasets and the folder
            layout; aeon missing for ``.ts`` files.
        InvalidDataError: unparsable files; inf, or missing values (NaN) inside a series (the
            message names the file and the rows); test labels that do not occur in the training
            file (the message lists them).
        ConfigError: out-of-range options, a name that is not a plain name.

    Example:
        >>> data = load_ucr("BasicMotions", cache=False)
        >>> data.n_features, data.n_classes, data.meta["class_names"][:2]
        (6, 4, ['standing', 'running'])
    """
    if not isinstance(name, str):
        raise ConfigError(f"name must be a dataset name (str), got {name!r}")
    check_name(name)
    if folder is None:
        name = archive_name(name) or name
    else:
        found = find_archive_files(Path(folder).expanduser(), name)
        name = found[0] if found is not None else name
    config = UCRConfig(
        name=name, folder=None if folder is None else str(folder), normalize=normalize,
        val_fraction=val_fraction, seed=seed, padding=padding,
    )
    path = _cache_file(config, _source_stamp(config)) if cache else None
    def assemble(splits: dict[str, Split], _scaler: Any, meta: dict[str, Any]) -> Dataset:
        return Dataset(config=config, train=splits["train"], val=splits["val"],
                       test=splits["test"], meta=meta)

    return cached_dataset(path, config, version=UCR_FORMAT_VERSION, what="UCR cache",
                          build=partial(_build, config), assemble=assemble)
