"""The one registry of named data sources, and :func:`load_dataset`, which loads any of them.

Registered at import:

* ``synthetic``: the 10 box designs of [TSB] Ismail et al. NeurIPS 2020, each with the 7
  generating processes (default "Gaussian") and a ground-truth box;
* ``vanishing``: the 3 vanishing-saliency designs of [ICA] Ismail et al. NeurIPS 2019 (Gaussian);
* ``ucr``: the UCR / UEA problems aeon ships (load offline), as used by [OBJ] Löffler et al. 2022;
* ``segmentation``: ``SyntheticSegmentation`` (known segments) and ``ToolTracking`` (the
  Fraunhofer IIS IMU data of [OBJ], read from ``data_dir``).

A name that is not registered is tried as a UCR / UEA archive name: from ``data_dir`` when given
(``<dir>/<Name>/<Name>_TRAIN.ts`` and ``_TEST``; ``.tsv`` and ``.arff`` too), else by aeon's
download. Names and processes match ignoring case. A new source (images, text, ...) is one
:func:`register_source` call.

Example:
    >>> from saliencylab.data import load_dataset, list_sources
    >>> [s.name for s in list_sources("vanishing")]
    ['VanishingEarly', 'VanishingMiddle', 'VanishingLate']
    >>> data = load_dataset("middle", process="narma", n_train=40, n_test=10, cache=False)
    >>> data.spec["name"], data.spec["process"], data.train.x.shape
    ('Middle', 'NARMA', torch.Size([36, 50, 50]))
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saliencylab.data.dataset import MODALITIES, TASKS, Dataset
from saliencylab.data.image_sources import IMAGE_SOURCES
from saliencylab.data.images import load_digits
from saliencylab.data.names import canonical_name, check_name
from saliencylab.data.processes import PROCESSES
from saliencylab.data.segmentation import (
    SegmentationConfig,
    load_synthetic_segmentation,
    load_tool_tracking,
)
from saliencylab.data.synthetic import DESIGNS, VANISHING_DESIGNS, SyntheticConfig, load_synthetic
from saliencylab.data.text_sources import register_text_sources
from saliencylab.data.ucr import (
    FOLDER_LAYOUT,
    SHIPPED_DATASETS,
    aeon_archive_names,
    archive_name,
    find_archive_files,
    load_ucr,
)
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError
from saliencylab.utils import jsonable

__all__ = [
    "ARCHIVE_NOTE",
    "KIND_TITLES",
    "Source",
    "archive_source",
    "get_source",
    "list_sources",
    "load_dataset",
    "load_from_spec",
    "register_source",
]

Loader = Callable[..., Dataset]

#: Headings of the source kinds (``saliencylab data list``); a kind not listed uses its name.
KIND_TITLES: dict[str, str] = {
    "synthetic": "synthetic designs of [TSB] (dataset = design x process, ground-truth box)",
    "vanishing": "vanishing-saliency designs of [ICA] (Gaussian background, ground-truth block)",
    "ucr": "UCR / UEA archive problems shipped with aeon (load offline)",
    "segmentation": "segmentation data of [OBJ] (labels per time step, 0 = no class)",
    "image": "image data",
    "text": "text data: token ids, per-token rationales (synthetic corpus, ERASER [SGT])",
}

#: How a name that is not registered is loaded (for listings and messages).
ARCHIVE_NOTE = (
    "any other UCR/UEA archive name loads from --data-dir DIR (data_dir=...), with "
    f"{FOLDER_LAYOUT}, or by aeon's download when online"
)

#: Options of every UCR / UEA source (see :func:`~saliencylab.data.load_ucr`).
UCR_OPTIONS: tuple[str, ...] = ("normalize", "val_fraction", "padding")
SYNTHETIC_OPTIONS: tuple[str, ...] = tuple(
    f for f in SyntheticConfig.model_fields if f not in ("design", "process", "seed"))
SEGMENTATION_OPTIONS: tuple[str, ...] = tuple(
    f for f in SegmentationConfig.model_fields if f != "seed")
TOOL_TRACKING_OPTIONS: tuple[str, ...] = tuple(
    n for n, p in inspect.signature(load_tool_tracking).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "seed")

_SPEC_KEYS = ("name", "process", "data_dir", "seed", "options")


@dataclass(frozen=True)
class Source:
    """A named data source and how to load it.

    Attributes:
        name: canonical spelling, e.g. "Middle", "GunPoint", "SyntheticSegmentation".
        kind: "synthetic", "vanishing", "ucr", "segmentation" (or a new kind: "image", "text").
        description: one line for listings.
        load: ``load(name, *, process, data_dir, seed, cache, **options) -> Dataset``; called
            with the canonical name and process, options already checked against ``options``.
        modality: "time_series", "image" or "text".
        task: "classification" or "segmentation".
        processes: the generating processes it accepts; ``()`` = it takes none.
        default_process: the process used when none is given (one of ``processes``).
        needs_data_dir: it reads files from ``data_dir``, which must be given.
        has_groundtruth: its splits carry a ground-truth ``mask``.
        has_background: it can draw fresh uninformative samples (``Dataset.background``), as
            the masking of the [TSB] ground-truth evaluation needs.
        options: the keyword options ``load`` accepts.

    Example:
        >>> get_source("gunpoint").kind, get_source("Middle").default_process
        ('ucr', 'Gaussian')
    """

    name: str
    kind: str
    description: str
    load: Loader
    modality: str = "time_series"
    task: str = "classification"
    processes: tuple[str, ...] = ()
    default_process: str | None = None
    needs_data_dir: bool = False
    has_groundtruth: bool = False
    has_background: bool = False
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_name(self.name, "source")
        if not isinstance(self.kind, str) or not self.kind:
            raise ConfigError(f"source kind must be a non-empty string, got {self.kind!r}")
        if not callable(self.load):
            raise ConfigError(f"source {self.name!r}: load must be callable, got {self.load!r}")
        if self.modality not in MODALITIES:
            raise ConfigError(f"source {self.name!r}: modality must be one of "
                              f"{', '.join(MODALITIES)}, got {self.modality!r}")
        if self.task not in TASKS:
            raise ConfigError(f"source {self.name!r}: task must be one of {', '.join(TASKS)}, "
                              f"got {self.task!r}")
        object.__setattr__(self, "processes", tuple(self.processes))
        object.__setattr__(self, "options", tuple(self.options))
        if self.processes and self.default_process not in self.processes:
            raise ConfigError(f"source {self.name!r}: default_process must be one of "
                              f"{', '.join(self.processes)}, got {self.default_process!r}")
        if not self.processes and self.default_process is not None:
            raise ConfigError(f"source {self.name!r} takes no process but has default_process "
                              f"{self.default_process!r}")


_REGISTRY: dict[str, Source] = {}


def register_source(source: Source, *, overwrite: bool = False) -> Source:
    """Add ``source`` to the registry (names are unique ignoring case) and return it.

    Example:
        >>> from saliencylab.data import load_synthetic
        >>> def load_tiny(name, *, process, data_dir, seed, cache, **options):
        ...     return load_synthetic("Middle", process, seed=seed, cache=cache, **options)
        >>> register_source(Source("TinyMiddle", "synthetic", "Middle, 20 samples", load_tiny,
        ...                        processes=("Gaussian",), default_process="Gaussian",
        ...                        options=("n_train",)))  # doctest: +SKIP
        >>> load_dataset("tinymiddle", n_train=20).spec["name"]  # doctest: +SKIP
        'TinyMiddle'
    """
    if not isinstance(source, Source):
        raise ConfigError(f"register_source takes a Source, got {type(source).__name__}")
    key = source.name.lower()
    if key in _REGISTRY and not overwrite:
        raise ConfigError(f"a source named {_REGISTRY[key].name!r} is already registered; "
                          f"pass overwrite=True to replace it")
    _REGISTRY[key] = source
    return source


def get_source(name: str) -> Source:
    """The registered source called ``name`` (any case); UnknownNameError, with the closest
    names, if there is none.

    Example:
        >>> get_source("MIDDLE").processes[:2]
        ('Gaussian', 'Harmonic')
    """
    if not isinstance(name, str):
        raise ConfigError(f"a source name must be a string, got {name!r}")
    source = _REGISTRY.get(name.lower())
    if source is None:
        raise UnknownNameError("data source", name, [s.name for s in _REGISTRY.values()])
    return source


def list_sources(kind: str | None = None) -> list[Source]:
    """The registered sources in registration order, or only those of ``kind`` (any case).

    Example:
        >>> len(list_sources("synthetic")), list_sources("segmentation")[0].task
        (10, 'segmentation')
    """
    sources = list(_REGISTRY.values())
    if kind is None:
        return sources
    kinds = list(dict.fromkeys(s.kind for s in sources))
    canonical = canonical_name(kind, kinds) if isinstance(kind, str) else None
    if canonical is None:
        raise UnknownNameError("source kind", kind, kinds)
    return [s for s in sources if s.kind == canonical]


# ---------------------------------------------------------------------------------------------
# Loading


def _jsonable(value: Any, where: str) -> Any:
    try:
        return jsonable(value)
    except ConfigError:
        raise ConfigError(f"option {where} must be JSON-able (numbers, strings, lists, dicts) "
                          f"so the dataset's spec can rebuild it; got {type(value).__name__}"
                          ) from None


def _check_options(owner: str, options: dict[str, Any], accepted: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = (f"it accepts: {', '.join(accepted)}" if accepted else "it takes no options")
        raise ConfigError(f"unknown option{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(unknown)} for {owner}; {takes}")


def _no_process(owner: str, process: str | None) -> None:
    if process is not None:
        takers = [s.name for s in _REGISTRY.values() if s.processes]
        raise ConfigError(f"{owner} takes no process, got process={process!r}; only these "
                          f"sources take one: {', '.join(takers)}")


def _resolve_process(source: Source, process: str | None) -> str | None:
    if not source.processes:
        _no_process(f"{source.name!r} ({source.kind})", process)
        return None
    if process is None:
        return source.default_process
    if not isinstance(process, str):
        raise ConfigError(f"process must be a string, got {process!r}")
    canonical = canonical_name(process, source.processes)
    if canonical is None:
        raise UnknownNameError("process", process, source.processes,
                               hint=f"{source.name} accepts {', '.join(source.processes)}")
    return canonical


def _resolve(name: str, process: str | None) -> tuple[Source | None, str | None]:
    """The registered source of ``name`` (None: try the UCR/UEA archive) and the process;
    ``"Middle_NARMA"`` is design ``Middle`` with process ``NARMA``."""
    source = _REGISTRY.get(name.lower())
    if source is None and "_" in name:
        head, _, tail = name.partition("_")
        candidate = _REGISTRY.get(head.lower())
        if candidate is not None and canonical_name(tail, candidate.processes) is not None:
            tail = canonical_name(tail, candidate.processes)
            if process is not None and _resolve_process(candidate, process) != tail:
                raise ConfigError(f"{name!r} names process {tail!r} but process={process!r}")
            return candidate, tail
    if source is None:
        return None, process
    return source, _resolve_process(source, process)


def _folder_names(folder: Path) -> list[str]:
    names = set()
    for p in folder.iterdir():
        if p.is_dir():
            names.add(p.name)
        elif "_TRAIN." in p.name.upper():
            names.add(p.name[: p.name.upper().index("_TRAIN.")])
    return sorted(names)


def _unknown_archive(name: str, folder: Path | None) -> UnknownNameError:
    registered = [s.name for s in _REGISTRY.values()]
    if folder is not None:
        present = _folder_names(folder)
        hint = (f"It is not a registered source, and {str(folder)!r} holds no {name}_TRAIN / "
                f"{name}_TEST files (.ts, .tsv or .arff); expected {FOLDER_LAYOUT}"
                f"{'; found there: ' + ', '.join(present) if present else ''}")
        return UnknownNameError("dataset", name, registered, hint=hint, candidates=present)
    aeon = importlib.util.find_spec("aeon") is not None
    why = ("nor a UCR/UEA archive name aeon knows" if aeon else
           "and aeon, which downloads UCR/UEA problems by name, is not installed "
           "(pip install 'saliencylab[ucr]')")
    hint = (f"It is not a registered source {why}. To load a problem you have downloaded, point "
            f"at its folder with data_dir=DIR (--data-dir DIR on the command line), with "
            f"{FOLDER_LAYOUT}")
    return UnknownNameError("dataset", name, registered, hint=hint,
                            candidates=aeon_archive_names() if aeon else ())


def archive_source(name: str, data_dir: str | os.PathLike | None = None) -> Source:
    """A (not registered) :class:`Source` for the UCR / UEA archive problem ``name``.

    With ``data_dir`` the name is matched (ignoring case) against the files there and
    UnknownNameError says what was expected when none match; without it, the name takes aeon's
    spelling when aeon knows it and is kept as given otherwise (the load then tells).

    Example:
        >>> archive_source("gunpointagespan").name
        'GunPointAgeSpan'
    """
    check_name(name)
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise SaliencyLabError(f"data_dir {str(folder)!r} does not exist or is not a "
                                   f"directory")
        found = find_archive_files(folder, name)
        if found is None:
            raise _unknown_archive(name, folder)
        canonical, where = found[0], f"read from {str(folder)!r}"
    else:
        canonical, where = archive_name(name) or name, "by aeon (downloaded when online)"
    return Source(canonical, "ucr", f"UCR/UEA archive problem, {where}", _load_ucr_source,
                  options=UCR_OPTIONS)


def load_dataset(
    name: str,
    *,
    process: str | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    cache: bool = True,
    **options: Any,
) -> Dataset:
    """Load any named dataset: a registered source, or a UCR / UEA archive problem.

    Args:
        name: a registered source (:func:`list_sources`; any case, e.g. "middle", "GunPoint",
            "SyntheticSegmentation"), ``"<design>_<process>"``, or any UCR/UEA archive name. A
            plain name, never a path.
        process: the generating process of a synthetic design (default "Gaussian"); sources that
            take no process refuse one.
        data_dir: the folder a source reads (ToolTracking), or the UCR/UEA folder
            ``<dir>/<Name>/<Name>_TRAIN.ts|.tsv|.arff`` and ``_TEST``.
        seed: synthetic data: the generation seed (as :func:`~saliencylab.data.load_synthetic`);
            UCR: the seed of the validation split; segmentation: the generation / split seed.
        cache: use the on-disk cache where the loader has one.
        **options: synthetic: :class:`~saliencylab.data.SyntheticConfig` fields (``n_train``,
            ``mu``, ...); UCR: ``normalize``, ``val_fraction``, ``padding``; segmentation:
            :class:`~saliencylab.data.SegmentationConfig` fields; ToolTracking: the keyword
            arguments of :func:`~saliencylab.data.load_tool_tracking`.

    Returns:
        The :class:`~saliencylab.data.Dataset`, with ``spec = {"name", "process", "data_dir",
        "seed", "options"}`` (JSON-able) so that :func:`load_from_spec` rebuilds it.

    Raises:
        UnknownNameError: an unknown name or process; the message lists the registered names,
            suggests the closest and says how to point at a folder.
        ConfigError: a name that is a path, a process or ``data_dir`` the source does not take,
            an unknown option (the message names the accepted ones), a bad value.

    Example:
        >>> data = load_dataset("GunPoint", cache=False)
        >>> data.spec["name"], data.spec["process"], data.n_classes
        ('GunPoint', None, 2)
    """
    check_name(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ConfigError(f"data_dir must be a path, got {data_dir!r}")
    folder = None if data_dir is None else os.fspath(data_dir)
    options = {k: _jsonable(v, k) for k, v in options.items()}
    source, process = _resolve(name, process)
    if source is None:  # not registered: a UCR / UEA archive name
        _no_process(f"UCR/UEA dataset {name!r}", process)
        if folder is None and archive_name(name) is None:
            raise _unknown_archive(name, None)
        source = archive_source(name, folder)
    if source.needs_data_dir and folder is None:
        raise ConfigError(f"{source.name} reads files: pass data_dir=DIR (--data-dir DIR); "
                          f"{source.description}")
    _check_options(source.name, options, source.options)
    dataset = source.load(source.name, process=process, data_dir=folder, seed=seed, cache=cache,
                          **options)
    dataset.spec = {"name": source.name, "process": process, "data_dir": folder, "seed": seed,
                    "options": options}
    return dataset


def load_from_spec(spec: Mapping[str, Any], *, cache: bool = True) -> Dataset:
    """Rebuild the dataset a :attr:`Dataset.spec` describes (e.g. the one a checkpoint records).

    Example:
        >>> a = load_dataset("RareTime", process="CAR", n_train=20, n_test=4, cache=False)
        >>> b = load_from_spec(a.spec, cache=False)
        >>> bool((a.test.x == b.test.x).all())
        True
    """
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ConfigError(f"a dataset spec is a dict with a 'name'; got {spec!r}")
    unknown = sorted(set(spec) - set(_SPEC_KEYS))
    if unknown:
        raise ConfigError(f"unknown dataset spec keys {', '.join(unknown)}; expected "
                          f"{', '.join(_SPEC_KEYS)}")
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"spec['options'] must be a dict, got {options!r}")
    return load_dataset(spec["name"], process=spec.get("process"), data_dir=spec.get("data_dir"),
                        seed=spec.get("seed", 0), cache=cache, **dict(options))


# ---------------------------------------------------------------------------------------------
# Built-in sources


def _no_data_dir(name: str, data_dir: str | None) -> None:
    if data_dir is not None:
        raise ConfigError(f"{name} is generated, not read from files: it takes no data_dir "
                          f"(got {data_dir!r})")


def _load_synthetic_source(name: str, *, process: str | None, data_dir: str | None, seed: int,
                           cache: bool, **options: Any) -> Dataset:
    _no_data_dir(name, data_dir)
    return load_synthetic(name, process, seed=seed, cache=cache, **options)


def _load_ucr_source(name: str, *, process: str | None, data_dir: str | None, seed: int,
                     cache: bool, **options: Any) -> Dataset:
    """From ``data_dir`` when it holds the files of ``name``; a set aeon ships falls back to
    aeon's copy when it does not (so one ``data_dir`` serves a grid of mixed sources)."""
    if (data_dir is not None and name in SHIPPED_DATASETS
            and find_archive_files(Path(data_dir).expanduser(), name) is None):
        data_dir = None
    return load_ucr(name, folder=data_dir, seed=seed, cache=cache, **options)


def _load_segmentation_source(name: str, *, process: str | None, data_dir: str | None,
                              seed: int, cache: bool, **options: Any) -> Dataset:
    _no_data_dir(name, data_dir)
    return load_synthetic_segmentation(seed=seed, **options)


def _load_tool_tracking_source(name: str, *, process: str | None, data_dir: str | None,
                               seed: int, cache: bool, **options: Any) -> Dataset:
    return load_tool_tracking(data_dir, seed=seed, **options)


def _design_description(design: str) -> str:
    config = SyntheticConfig(design=design)
    geom = config.geometry()
    if geom.moving:
        placement = "start random per sample"
    elif geom.class_axis is not None:
        other = "time" if geom.class_axis == "feature" else "feature"
        placement = (f"{other} start random, {geom.class_axis} start {geom.positions[0]} "
                     f"(class 1) / {geom.positions[1]} (class 0)")
    else:
        placement = f"fixed at (t, f) = {geom.start}"
    paper = "ICA" if design in VANISHING_DESIGNS else "TSB"
    return (f"box {geom.box[0]} x {geom.box[1]} (time x features), {placement}; samples "
            f"{config.n_time} x {config.n_features} [{paper}]")


_UCR_DESCRIPTIONS = {
    "ACSF1": "univariate, 1460 steps, 10 classes (power consumption of appliances)",
    "ArrowHead": "univariate, 251 steps, 3 classes (arrowhead outlines)",
    "BasicMotions": "6 channels, 100 steps, 4 classes (accelerometer and gyroscope)",
    "GunPoint": "univariate, 150 steps, 2 classes (hand motion, gun or point)",
    "ItalyPowerDemand": "univariate, 24 steps, 2 classes (daily electricity demand)",
    "JapaneseVowels": "12 channels, 7-29 steps (ragged), 9 classes (speakers' vowels)",
    "OSULeaf": "univariate, 427 steps, 6 classes (leaf outlines)",
    "PickupGestureWiimoteZ": "univariate, 29-361 steps (ragged), 10 classes (Wii gestures)",
}


DIGITS_OPTIONS = ("n_val", "n_test", "standardize")


def _load_digits_source(name: str, *, process: str | None, data_dir: str | None, seed: int,
                        cache: bool, **options: Any) -> Dataset:
    _no_data_dir(name, data_dir)
    return load_digits(seed=seed, **options)


#: ``(name, description, loader, options, needs_data_dir, has_groundtruth)`` of each
#: segmentation source (kind and task ``"segmentation"``: per-step labels).
_SEGMENTATION_SOURCES: tuple[tuple[str, str, Loader, tuple[str, ...], bool, bool], ...] = (
    ("SyntheticSegmentation", "Gaussian noise with up to 3 segments per sample, each class a "
     "signature (sine, level shift, square) on its own channels; 200 steps x 6 channels, "
     "4 classes", _load_segmentation_source, SEGMENTATION_OPTIONS, False, True),
    ("ToolTracking", "tool-tracking IMU data (Fraunhofer IIS) in windows; data_dir = the root "
     "of github.com/mutschcr/tool-tracking's data (<tool>/<series>/ACC-01-102.3.csv, "
     "data-01.annotation)", _load_tool_tracking_source, TOOL_TRACKING_OPTIONS, True, False),
)


def _register_builtin() -> None:
    # [TSB]'s designs take any process, [ICA]'s vanishing ones the Gaussian background only.
    for kind, designs, processes in (("synthetic", DESIGNS, PROCESSES),
                                     ("vanishing", VANISHING_DESIGNS, ("Gaussian",))):
        for design in designs:
            register_source(Source(
                design, kind, _design_description(design), _load_synthetic_source,
                processes=processes, default_process="Gaussian", has_groundtruth=True,
                has_background=True, options=SYNTHETIC_OPTIONS))
    for name in SHIPPED_DATASETS:
        register_source(Source(
            name, "ucr", _UCR_DESCRIPTIONS.get(name, "UCR/UEA problem shipped with aeon"),
            _load_ucr_source, options=UCR_OPTIONS))
    for name, text, load, options, needs_dir, groundtruth in _SEGMENTATION_SOURCES:
        register_source(Source(name, "segmentation", text, load, task="segmentation",
                               needs_data_dir=needs_dir, has_groundtruth=groundtruth,
                               options=options))
    register_source(Source(
        "digits", "image",
        "scikit-learn's 8 x 8 handwritten digits (1797 images, 10 classes), standardised; "
        "bundled, offline",
        _load_digits_source, modality="image", options=DIGITS_OPTIONS))
    register_text_sources(register_source)
    for name, text, load, options, needs_dir, modality in IMAGE_SOURCES:
        register_source(Source(name, "image", text, load, modality=modality,
                               needs_data_dir=needs_dir, options=options))


_register_builtin()
