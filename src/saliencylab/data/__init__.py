"""Datasets: one container (:class:`Dataset` of :class:`Split` s) and one registry of named
sources (:func:`load_dataset`, :func:`list_sources`): the synthetic benchmark of [TSB], the
vanishing-saliency data of [ICA], UCR/UEA archives (:func:`load_ucr`) and segmentation data for
[OBJ] (:func:`load_synthetic_segmentation`, :func:`load_tool_tracking`).

[TSB] Ismail, Gunady, Corrada Bravo, Feizi. *Benchmarking Deep Learning Interpretability in Time
Series Predictions.* NeurIPS 2020. [ICA] Ismail, Gunady, Pessoa, Corrada Bravo, Feizi.
*Input-Cell Attention Reduces Vanishing Saliency of Recurrent Neural Networks.* NeurIPS 2019.
[OBJ] Löffler et al. *Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
Series.* 2022.

Example:
    >>> from saliencylab.data import DESIGNS, PROCESSES, load_dataset
    >>> len(DESIGNS) * len(PROCESSES)
    70
    >>> data = load_dataset("Middle", process="Gaussian", n_train=100, n_test=20, cache=False)
    >>> data.train.x.shape, data.train.mask.dtype
    (torch.Size([90, 50, 50]), torch.bool)
"""

from saliencylab.data.dataset import Dataset, Split, TimeSeriesDataset
from saliencylab.data.processes import PROCESSES, irregular_time_grid, sample_process
from saliencylab.data.scaling import MinMaxScaler
from saliencylab.data.segmentation import (
    SegmentationConfig,
    SegmentationDataset,
    SegmentationSplit,
    label_segments,
    load_synthetic_segmentation,
    load_tool_tracking,
)
from saliencylab.data.sources import (
    Source,
    archive_source,
    get_source,
    list_sources,
    load_dataset,
    load_from_spec,
    register_source,
)
from saliencylab.data.synthetic import (
    ALL_DESIGNS,
    DESIGN_SPECS,
    DESIGNS,
    VANISHING_DESIGNS,
    DesignSpec,
    SyntheticConfig,
    balanced_labels,
    box_mask,
    cache_path,
    draw_background,
    generate_synthetic,
    get_design,
    list_datasets,
    load_synthetic,
)
from saliencylab.data.ucr import SHIPPED_DATASETS, UCRConfig, load_ucr, shipped_datasets

__all__ = [
    "ALL_DESIGNS",
    "DESIGNS",
    "DESIGN_SPECS",
    "Dataset",
    "DesignSpec",
    "MinMaxScaler",
    "PROCESSES",
    "SHIPPED_DATASETS",
    "SegmentationConfig",
    "SegmentationDataset",
    "SegmentationSplit",
    "Source",
    "Split",
    "SyntheticConfig",
    "TimeSeriesDataset",
    "UCRConfig",
    "VANISHING_DESIGNS",
    "archive_source",
    "balanced_labels",
    "box_mask",
    "cache_path",
    "draw_background",
    "generate_synthetic",
    "get_design",
    "get_source",
    "irregular_time_grid",
    "label_segments",
    "list_datasets",
    "list_sources",
    "load_dataset",
    "load_from_spec",
    "load_synthetic",
    "load_synthetic_segmentation",
    "load_tool_tracking",
    "load_ucr",
    "register_source",
    "sample_process",
    "shipped_datasets",
]
