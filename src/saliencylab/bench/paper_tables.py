"""The papers' numbers that the reproduction presets are compared with, written once, each
with its paper and table.

- [SGT] Ismail, Corrada Bravo, Feizi, *Improving Deep Learning Interpretability by Saliency
  Guided Training*, NeurIPS 2021, Table 2: mean Diff(AUP) / Diff(AUR) over the 10 synthetic
  designs per (architecture, method, training) (:data:`SGT_TABLE2`).
- [SGT-supp] the same paper's supplementary material: Table 5, test accuracy per (design,
  architecture, training) (:data:`SGT_SUPP_ACCURACY`); Tables 6-9, Diff(AUP) / Diff(AUR) per
  design for the LSTM, the LSTM with input-cell attention, the TCN and the Transformer
  (:data:`SGT_SUPP_DIFFS`), with the masked fraction k of saliency guided training per design
  (:data:`SGT_SUPP_K`; lambda = 1 everywhere).
- [SGT] Table 1: ERASER comprehensiveness / sufficiency (AOPC) of the bi-LSTM on movies,
  FEVER and e-SNLI per (method, training), and the random baseline (:data:`SGT_TABLE1`);
  [SGT-supp] Table 2: the area under the MNIST accuracy-drop curve of Gradient (IID
  replacement) for traditional, saliency guided and fine-tuned training (:data:`SGT_SUPP_AUC`).
- [OBJ] *Objective Evaluation of Deep Visual Interpretations on Time Series Data* (Löffler et
  al.), appendix B.3 Table 1: test accuracy of the FCN and the TCN on six UCR / UEA archives
  (:data:`OBJ_TABLE1`).
- [TSB] Ismail, Gunady, Corrada Bravo, Feizi, *Benchmarking Deep Learning Interpretability in
  Time Series Predictions*, NeurIPS 2020, Table 1: AUPR, AUP, AUR and the accuracy-drop AUC of
  the TCN on Middle box and Moving box (:data:`TSB_TABLE1`).
- [ICA] Ismail, Gunady, Pessoa, Corrada Bravo, Feizi, *Input-Cell Attention Reduces Vanishing
  Saliency of Recurrent Neural Networks*, NeurIPS 2019, Table 1: WJac, Euc and accuracy of the
  LSTM and the LSTM with input-cell attention on the early / middle / late block
  (:data:`ICA_TABLE1`).
- [CS] Gupta, Saunshi, Yu, Lyu, Arora, *New Definitions and Evaluations for Saliency Methods:
  Staying Intrinsic, Complete and Sound*, NeurIPS 2022, Appendix D.1 Table 4: worst-case
  completeness and soundness of the learned masks per lambda_TV on CIFAR-10 (ResNet-164), with
  gray and random-image fill (:data:`CS_TABLE4`).

Method and model names are the registry's; design names are the source names of
``saliencylab data list``. :func:`paper_rows` flattens everything into one row per number.

Example:
    >>> SGT_TABLE2["diff_aup"]["tcn"][("integrated_gradients", "saliency_guided")]
    0.291
    >>> SGT_SUPP_K["tcn"]["Middle"], TSB_TABLE1["Middle"]["gradient+tsr"]["aup"]
    (0.5, 0.381)
"""

from __future__ import annotations

from typing import Any

from saliencylab.data.synthetic import DESIGNS

__all__ = [
    "CS_TABLE4",
    "ICA_TABLE1",
    "OBJ_DATASETS",
    "OBJ_TABLE1",
    "SGT_ARCHITECTURES",
    "SGT_DESIGNS",
    "SGT_METHODS",
    "SGT_SUPP_ACCURACY",
    "SGT_SUPP_AUC",
    "SGT_SUPP_DIFFS",
    "SGT_SUPP_K",
    "SGT_TABLE1",
    "SGT_TABLE1_METHODS",
    "SGT_TABLE2",
    "SUPP_TABLE_OF",
    "PAPER_FIGURES",
    "TSB_TABLE1",
    "paper_rows",
]

#: The six saliency methods of [SGT] Table 2 and [SGT-supp] Tables 6-9, in the tables' order.
SGT_METHODS: tuple[str, ...] = (
    "gradient",
    "integrated_gradients",
    "deeplift",
    "gradient_shap",
    "deeplift_shap",
    "smoothgrad",
)
#: The four architectures, in the tables' order.
SGT_ARCHITECTURES: tuple[str, ...] = ("lstm", "lstm_ica", "tcn", "transformer")
#: The ten synthetic designs of [TSB] / [SGT-supp] Table 4, in the tables' order.
SGT_DESIGNS: tuple[str, ...] = DESIGNS
#: Which supplementary table holds an architecture's per-design numbers.
SUPP_TABLE_OF: dict[str, str] = {
    "lstm": "[SGT-supp] Table 6",
    "lstm_ica": "[SGT-supp] Table 7",
    "tcn": "[SGT-supp] Table 8",
    "transformer": "[SGT-supp] Table 9",
}
_TRAININGS = ("traditional", "saliency_guided")


def _pairs(values: tuple[float, ...]) -> dict[tuple[str, str], float]:
    """Twelve numbers in the tables' column order (each method: Trad., Sal.) by (method,
    training)."""
    keys = [(m, t) for m in SGT_METHODS for t in _TRAININGS]
    return dict(zip(keys, values, strict=True))


# [SGT] Table 2 (mean over the 10 designs), columns: each method's Trad., Sal.
_SGT_TABLE2_RAW: dict[str, dict[str, tuple[float, ...]]] = {
    "diff_aup": {
        "lstm": (-0.113, -0.119, -0.083, -0.024, -0.097, -0.108, -0.088, -0.069, -0.098, -0.109,
                 -0.110, -0.097),
        "lstm_ica": (0.060, 0.118, 0.188, 0.245, 0.202, 0.263, 0.198, 0.250, 0.214, 0.272, 0.040,
                     0.084),
        "tcn": (0.106, 0.168, 0.233, 0.291, 0.248, 0.270, 0.235, 0.288, 0.263, 0.280, 0.088, 0.155),
        "transformer": (-0.054, -0.062, 0.061, 0.044, -0.040, -0.032, 0.069, 0.023, -0.014, -0.055,
                        -0.018, -0.046),
    },
    "diff_aur": {
        "lstm": (-0.017, 0.019, 0.062, 0.121, 0.047, 0.089, 0.060, 0.102, 0.031, 0.075, 0.007,
                 0.004),
        "lstm_ica": (0.075, 0.136, 0.185, 0.198, 0.187, 0.204, 0.182, 0.196, 0.183, 0.201, 0.043,
                     0.111),
        "tcn": (0.125, 0.171, 0.191, 0.210, 0.202, 0.204, 0.185, 0.209, 0.196, 0.192, 0.046, 0.138),
        "transformer": (0.102, 0.104, 0.182, 0.176, 0.145, 0.146, 0.171, 0.162, 0.101, 0.065, 0.040,
                        0.018),
    },
}
#: [SGT] Table 2: ``SGT_TABLE2[metric][architecture][(method, training)]``.
SGT_TABLE2: dict[str, dict[str, dict[tuple[str, str], float]]] = {
    metric: {arch: _pairs(v) for arch, v in by_arch.items()}
    for metric, by_arch in _SGT_TABLE2_RAW.items()
}

#: [SGT-supp] Tables 6-9, ``SGT_SUPP_DIFFS[architecture][metric][design]``: twelve numbers,
#: each method's Trad., Sal. (see :func:`paper_rows` for them by name).
SGT_SUPP_DIFFS: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {
    "lstm": {
        "diff_aup": {
            "Middle": (-0.280, -0.280, -0.261, -0.036, -0.267, -0.270, -0.263, -0.124, -0.267,
                       -0.271, -0.283, -0.269),
            "SmallMiddle": (-0.071, -0.066, -0.053, 0.052, -0.070, -0.055, -0.056, -0.033, -0.070,
                            -0.055, -0.072, -0.044),
            "MovingMiddle": (-0.265, -0.277, -0.218, -0.169, -0.237, -0.264, -0.222, -0.237, -0.239,
                             -0.264, -0.259, -0.263),
            "MovingSmallMiddle": (-0.059, -0.060, -0.035, 0.051, -0.043, -0.045, -0.042, -0.013,
                                  -0.044, -0.046, -0.056, -0.037),
            "RareTime": (-0.076, -0.076, -0.075, -0.065, -0.076, -0.076, -0.075, -0.071, -0.076,
                         -0.076, -0.076, -0.068),
            "MovingRareTime": (-0.067, -0.058, -0.042, 0.016, -0.053, -0.042, -0.045, -0.010,
                               -0.054, -0.043, -0.061, -0.032),
            "RareFeature": (-0.063, -0.075, -0.039, 0.006, -0.047, -0.073, -0.038, -0.027, -0.048,
                            -0.073, -0.069, -0.059),
            "MovingRareFeature": (-0.062, -0.069, -0.021, 0.012, -0.040, -0.056, -0.032, -0.029,
                                  -0.041, -0.056, -0.059, -0.044),
            "PositionalTime": (-0.116, -0.119, -0.040, -0.006, -0.107, -0.112, -0.058, -0.046,
                               -0.108, -0.113, -0.111, -0.102),
            "PositionalFeature": (-0.064, -0.104, -0.042, -0.104, -0.028, -0.089, -0.043, -0.105,
                                  -0.031, -0.091, -0.055, -0.053),
        },
        "diff_aur": {
            "Middle": (0.072, 0.076, 0.128, 0.153, 0.125, 0.135, 0.122, 0.132, 0.114, 0.126, 0.070,
                       0.031),
            "SmallMiddle": (-0.043, 0.037, 0.048, 0.157, 0.029, 0.116, 0.038, 0.129, 0.007, 0.102,
                            -0.032, 0.009),
            "MovingMiddle": (0.060, 0.073, 0.119, 0.124, 0.110, 0.124, 0.119, 0.117, 0.099, 0.115,
                             0.061, 0.042),
            "MovingSmallMiddle": (-0.032, -0.004, 0.046, 0.135, 0.043, 0.073, 0.042, 0.093, 0.025,
                                  0.060, -0.023, -0.025),
            "RareTime": (-0.244, -0.137, -0.132, 0.043, -0.169, -0.021, -0.116, 0.005, -0.189,
                         -0.043, -0.145, -0.108),
            "MovingRareTime": (-0.222, -0.070, -0.092, 0.075, -0.103, 0.018, -0.065, 0.060, -0.131,
                               0.002, -0.144, -0.035),
            "RareFeature": (0.182, 0.197, 0.219, 0.180, 0.217, 0.223, 0.216, 0.216, 0.211, 0.219,
                            0.191, 0.166),
            "MovingRareFeature": (0.143, 0.162, 0.191, 0.196, 0.191, 0.202, 0.194, 0.196, 0.183,
                                  0.197, 0.162, 0.107),
            "PositionalTime": (-0.032, -0.073, 0.072, 0.119, 0.029, 0.021, 0.046, 0.082, 0.012,
                               0.001, -0.019, -0.064),
            "PositionalFeature": (-0.053, -0.070, 0.016, -0.005, -0.002, -0.005, 0.004, -0.009,
                                  -0.018, -0.025, -0.056, -0.083),
        },
    },
    "lstm_ica": {
        "diff_aup": {
            "Middle": (0.014, 0.046, 0.233, 0.252, 0.218, 0.237, 0.244, 0.261, 0.232, 0.247, -0.006,
                       0.026),
            "SmallMiddle": (0.049, 0.150, 0.161, 0.273, 0.169, 0.305, 0.170, 0.273, 0.180, 0.312,
                            0.038, 0.091),
            "MovingMiddle": (0.044, 0.082, 0.262, 0.251, 0.260, 0.256, 0.276, 0.256, 0.277, 0.261,
                             0.010, 0.044),
            "MovingSmallMiddle": (0.044, 0.055, 0.181, 0.201, 0.179, 0.196, 0.187, 0.200, 0.190,
                                  0.204, 0.022, 0.029),
            "RareTime": (0.186, 0.278, 0.271, 0.378, 0.323, 0.412, 0.279, 0.373, 0.338, 0.424,
                         0.133, 0.209),
            "MovingRareTime": (0.144, 0.276, 0.233, 0.388, 0.269, 0.417, 0.238, 0.381, 0.282, 0.429,
                               0.103, 0.167),
            "RareFeature": (0.032, 0.101, 0.163, 0.270, 0.166, 0.266, 0.174, 0.278, 0.180, 0.274,
                            0.039, 0.105),
            "MovingRareFeature": (-0.002, -0.004, 0.120, 0.124, 0.116, 0.116, 0.124, 0.127, 0.126,
                                  0.126, -0.003, -0.004),
            "PositionalTime": (0.117, 0.186, 0.184, 0.225, 0.236, 0.314, 0.197, 0.252, 0.248, 0.316,
                               0.093, 0.187),
            "PositionalFeature": (-0.021, 0.007, 0.072, 0.083, 0.080, 0.113, 0.089, 0.101, 0.088,
                                  0.122, -0.031, -0.012),
        },
        "diff_aur": {
            "Middle": (0.028, 0.084, 0.163, 0.176, 0.160, 0.180, 0.162, 0.173, 0.157, 0.177, -0.001,
                       0.044),
            "SmallMiddle": (0.064, 0.176, 0.186, 0.217, 0.189, 0.217, 0.182, 0.212, 0.183, 0.213,
                            0.031, 0.159),
            "MovingMiddle": (0.060, 0.117, 0.174, 0.180, 0.175, 0.187, 0.173, 0.177, 0.175, 0.183,
                             0.021, 0.072),
            "MovingSmallMiddle": (0.079, 0.101, 0.202, 0.201, 0.199, 0.194, 0.198, 0.196, 0.194,
                                  0.186, 0.029, 0.052),
            "RareTime": (0.139, 0.203, 0.214, 0.225, 0.214, 0.233, 0.211, 0.223, 0.211, 0.233,
                         0.103, 0.191),
            "MovingRareTime": (0.118, 0.213, 0.198, 0.226, 0.200, 0.233, 0.193, 0.224, 0.194, 0.232,
                               0.070, 0.197),
            "RareFeature": (0.077, 0.181, 0.196, 0.223, 0.197, 0.224, 0.193, 0.222, 0.193, 0.223,
                            0.074, 0.172),
            "MovingRareFeature": (0.059, 0.039, 0.188, 0.189, 0.191, 0.186, 0.182, 0.183, 0.186,
                                  0.180, 0.038, 0.028),
            "PositionalTime": (0.140, 0.201, 0.188, 0.200, 0.203, 0.225, 0.185, 0.202, 0.201, 0.224,
                               0.109, 0.188),
            "PositionalFeature": (-0.017, 0.043, 0.141, 0.146, 0.145, 0.166, 0.141, 0.150, 0.132,
                                  0.157, -0.041, 0.005),
        },
    },
    "tcn": {
        "diff_aup": {
            "Middle": (0.127, 0.217, 0.283, 0.393, 0.350, 0.398, 0.290, 0.384, 0.365, 0.416, 0.090,
                       0.194),
            "SmallMiddle": (0.164, 0.260, 0.299, 0.433, 0.312, 0.419, 0.302, 0.418, 0.328, 0.442,
                            0.156, 0.253),
            "MovingMiddle": (0.122, 0.197, 0.287, 0.342, 0.332, 0.367, 0.286, 0.329, 0.345, 0.387,
                             0.047, 0.182),
            "MovingSmallMiddle": (0.065, 0.043, 0.194, 0.151, 0.169, 0.191, 0.190, 0.152, 0.183,
                                  0.200, 0.037, 0.023),
            "RareTime": (0.184, 0.290, 0.314, 0.363, 0.324, 0.309, 0.314, 0.360, 0.352, 0.319,
                         0.177, 0.226),
            "MovingRareTime": (0.142, 0.182, 0.260, 0.333, 0.257, 0.243, 0.258, 0.330, 0.275, 0.251,
                               0.122, 0.179),
            "RareFeature": (0.058, 0.244, 0.246, 0.451, 0.252, 0.422, 0.249, 0.453, 0.286, 0.450,
                            0.085, 0.259),
            "MovingRareFeature": (-0.003, 0.004, 0.116, 0.134, 0.112, 0.114, 0.122, 0.129, 0.122,
                                  0.123, 0.007, 0.005),
            "PositionalTime": (0.115, 0.072, 0.180, 0.114, 0.233, 0.069, 0.187, 0.117, 0.237, 0.035,
                               0.106, 0.066),
            "PositionalFeature": (0.082, 0.176, 0.151, 0.199, 0.136, 0.162, 0.155, 0.203, 0.137,
                                  0.175, 0.058, 0.159),
        },
        "diff_aur": {
            "Middle": (0.133, 0.161, 0.190, 0.207, 0.202, 0.209, 0.188, 0.205, 0.201, 0.205, 0.054,
                       0.128),
            "SmallMiddle": (0.086, 0.230, 0.194, 0.240, 0.202, 0.240, 0.189, 0.239, 0.196, 0.241,
                            0.039, 0.230),
            "MovingMiddle": (0.134, 0.144, 0.191, 0.195, 0.201, 0.208, 0.186, 0.194, 0.201, 0.203,
                             0.036, 0.121),
            "MovingSmallMiddle": (0.118, 0.117, 0.204, 0.199, 0.193, 0.195, 0.196, 0.196, 0.186,
                                  0.190, -0.001, 0.065),
            "RareTime": (0.173, 0.215, 0.199, 0.233, 0.225, 0.221, 0.193, 0.230, 0.226, 0.204,
                         0.125, 0.151),
            "MovingRareTime": (0.106, 0.198, 0.177, 0.220, 0.195, 0.189, 0.167, 0.224, 0.191, 0.179,
                               -0.057, 0.149),
            "RareFeature": (0.152, 0.222, 0.222, 0.239, 0.223, 0.239, 0.219, 0.239, 0.224, 0.239,
                            0.130, 0.217),
            "MovingRareFeature": (0.101, 0.122, 0.198, 0.204, 0.206, 0.205, 0.195, 0.201, 0.196,
                                  0.198, 0.048, 0.055),
            "PositionalTime": (0.126, 0.128, 0.156, 0.172, 0.194, 0.160, 0.147, 0.165, 0.181, 0.110,
                               0.039, 0.102),
            "PositionalFeature": (0.126, 0.174, 0.177, 0.196, 0.180, 0.175, 0.172, 0.194, 0.164,
                                  0.154, 0.049, 0.160),
        },
    },
    "transformer": {
        "diff_aup": {
            "Middle": (-0.179, -0.213, 0.051, -0.004, -0.116, -0.176, 0.067, -0.064, -0.062, -0.222,
                       -0.069, -0.150),
            "SmallMiddle": (-0.034, -0.057, 0.054, 0.042, -0.018, -0.034, 0.066, 0.024, 0.009,
                            -0.060, 0.006, -0.022),
            "MovingMiddle": (-0.188, -0.146, 0.062, 0.018, -0.142, -0.067, 0.065, -0.011, -0.130,
                             -0.143, -0.091, -0.157),
            "MovingSmallMiddle": (-0.002, -0.008, 0.031, 0.039, 0.017, 0.029, 0.026, 0.037, 0.036,
                                  0.016, -0.021, -0.035),
            "RareTime": (0.038, -0.006, 0.118, 0.057, -0.019, 0.017, 0.132, 0.049, 0.014, -0.010,
                         -0.029, -0.031),
            "MovingRareTime": (0.066, 0.062, 0.110, 0.049, -0.021, 0.046, 0.117, 0.055, -0.009,
                               0.033, -0.026, -0.027),
            "RareFeature": (-0.049, -0.045, 0.029, 0.139, -0.002, -0.004, 0.033, 0.088, 0.008,
                            -0.015, 0.005, 0.028),
            "MovingRareFeature": (-0.034, -0.031, 0.041, 0.055, 0.008, 0.014, 0.038, 0.049, 0.008,
                                  0.022, -0.002, -0.013),
            "PositionalTime": (-0.060, -0.078, 0.084, 0.029, -0.048, -0.047, 0.102, -0.001, 0.013,
                               -0.072, 0.026, -0.057),
            "PositionalFeature": (-0.094, -0.099, 0.032, 0.012, -0.061, -0.097, 0.046, 0.008,
                                  -0.029, -0.098, 0.019, 0.006),
        },
        "diff_aur": {
            "Middle": (0.087, 0.053, 0.167, 0.146, 0.155, 0.112, 0.157, 0.111, 0.119, -0.051, 0.040,
                       -0.025),
            "SmallMiddle": (0.085, 0.030, 0.186, 0.189, 0.128, 0.113, 0.173, 0.171, 0.077, -0.025,
                            0.060, 0.036),
            "MovingMiddle": (0.071, 0.134, 0.164, 0.185, 0.136, 0.181, 0.150, 0.183, 0.057, 0.130,
                             0.019, 0.040),
            "MovingSmallMiddle": (0.118, 0.137, 0.171, 0.177, 0.157, 0.171, 0.160, 0.171, 0.098,
                                  0.117, -0.004, -0.019),
            "RareTime": (0.152, 0.139, 0.206, 0.172, 0.116, 0.135, 0.199, 0.157, 0.077, 0.088,
                         -0.027, -0.073),
            "MovingRareTime": (0.184, 0.185, 0.198, 0.170, 0.124, 0.175, 0.186, 0.168, 0.059, 0.127,
                               -0.033, -0.013),
            "RareFeature": (0.115, 0.152, 0.184, 0.217, 0.187, 0.188, 0.173, 0.203, 0.144, 0.129,
                            0.087, 0.135),
            "MovingRareFeature": (0.101, 0.122, 0.179, 0.183, 0.174, 0.180, 0.165, 0.176, 0.125,
                                  0.149, 0.060, 0.034),
            "PositionalTime": (0.091, 0.071, 0.193, 0.172, 0.154, 0.150, 0.184, 0.151, 0.145, 0.059,
                               0.103, -0.004),
            "PositionalFeature": (0.017, 0.013, 0.170, 0.149, 0.123, 0.057, 0.160, 0.131, 0.105,
                                  -0.072, 0.094, 0.073),
        },
    },
}
#: [SGT-supp] Tables 6-9: k, the fraction of features saliency guided training masks, per
#: (architecture, design); lambda is 1 for every design.
SGT_SUPP_K: dict[str, dict[str, float]] = {
    "lstm": {
        "Middle": 0.3, "SmallMiddle": 0.6, "MovingMiddle": 0.6, "MovingSmallMiddle": 0.05,
        "RareTime": 0.3, "MovingRareTime": 0.5, "RareFeature": 0.3, "MovingRareFeature": 0.1,
        "PositionalTime": 0.3, "PositionalFeature": 0.02
    },
    "lstm_ica": {
        "Middle": 0.4, "SmallMiddle": 0.6, "MovingMiddle": 0.8, "MovingSmallMiddle": 0.05,
        "RareTime": 0.4, "MovingRareTime": 0.8, "RareFeature": 0.3, "MovingRareFeature": 0.05,
        "PositionalTime": 0.4, "PositionalFeature": 0.05
    },
    "tcn": {
        "Middle": 0.5, "SmallMiddle": 0.4, "MovingMiddle": 0.7, "MovingSmallMiddle": 0.8,
        "RareTime": 0.5, "MovingRareTime": 0.5, "RareFeature": 0.3, "MovingRareFeature": 0.05,
        "PositionalTime": 0.7, "PositionalFeature": 0.1
    },
    "transformer": {
        "Middle": 0.3, "SmallMiddle": 0.6, "MovingMiddle": 0.9, "MovingSmallMiddle": 0.7,
        "RareTime": 0.5, "MovingRareTime": 0.5, "RareFeature": 0.3, "MovingRareFeature": 0.1,
        "PositionalTime": 0.6, "PositionalFeature": 0.1
    },
}


#: [SGT-supp] Table 5: test accuracy (%) per design, columns LSTM Trad., Sal., LSTM + input-cell
#: attention Trad., Sal., TCN Trad., Sal., Transformer Trad., Sal.
SGT_SUPP_ACCURACY: dict[str, tuple[int, ...]] = {
    "Middle": (99, 100, 100, 100, 100, 100, 100, 100),
    "SmallMiddle": (100, 100, 99, 100, 100, 100, 100, 100),
    "MovingMiddle": (100, 100, 100, 100, 100, 100, 99, 100),
    "MovingSmallMiddle": (100, 100, 99, 100, 100, 100, 99, 100),
    "RareTime": (100, 100, 99, 100, 100, 100, 100, 100),
    "MovingRareTime": (100, 100, 100, 100, 100, 100, 99, 100),
    "RareFeature": (100, 100, 100, 100, 100, 100, 100, 100),
    "MovingRareFeature": (99, 100, 99, 99, 100, 100, 99, 100),
    "PositionalTime": (100, 100, 100, 100, 100, 100, 100, 100),
    "PositionalFeature": (100, 100, 99, 100, 99, 100, 100, 100),
}

#: [TSB] Table 1: the TCN on Middle box and Moving box (Gaussian process); AUC is the area under
#: the accuracy (%) curve while the top cells are masked (lower = faster drop). DLS is
#: DeepLIFT SHAP, SG SmoothGrad.
TSB_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "Middle": {
        "gradient": {"aupr": 0.331, "aup": 0.328, "aur": 0.457, "accuracy_auc": 64.90},
        "deeplift_shap": {"aupr": 0.344, "aup": 0.344, "aur": 0.452, "accuracy_auc": 68.30},
        "smoothgrad": {"aupr": 0.294, "aup": 0.300, "aur": 0.451, "accuracy_auc": 64.00},
        "gradient+tsr": {"aupr": 0.399, "aup": 0.381, "aur": 0.471, "accuracy_auc": 62.20},
    },
    "MovingMiddle": {
        "gradient": {"aupr": 0.225, "aup": 0.229, "aur": 0.394, "accuracy_auc": 95.35},
        "deeplift_shap": {"aupr": 0.288, "aup": 0.288, "aur": 0.435, "accuracy_auc": 94.05},
        "smoothgrad": {"aupr": 0.241, "aup": 0.247, "aur": 0.395, "accuracy_auc": 92.90},
        "gradient+tsr": {"aupr": 0.335, "aup": 0.326, "aur": 0.456, "accuracy_auc": 84.00},
    },
}

#: [ICA] Table 1: ``ICA_TABLE1[model][design] = {"wjac", "euc", "accuracy_pct"}``.
ICA_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "lstm": {
        "VanishingEarly": {"wjac": 0.000, "euc": 1.006, "accuracy_pct": 53.4},
        "VanishingMiddle": {"wjac": 0.000, "euc": 1.003, "accuracy_pct": 98.6},
        "VanishingLate": {"wjac": 0.019, "euc": 0.985, "accuracy_pct": 100.0},
    },
    "lstm_ica": {
        "VanishingEarly": {"wjac": 0.103, "euc": 0.914, "accuracy_pct": 100.0},
        "VanishingMiddle": {"wjac": 0.124, "euc": 0.891, "accuracy_pct": 100.0},
        "VanishingLate": {"wjac": 0.110, "euc": 0.903, "accuracy_pct": 100.0},
    },
}


#: [SGT] Table 1 (AOPC over the top 1 / 5 / 10 / 20 / 50 % tokens): dataset -> metric -> the
#: seven numbers in the table's column order, Gradient, Integrated Gradients and SmoothGrad each
#: (Trad., Sal. Guided), then Random (one column: random token scores).
SGT_TABLE1: dict[str, dict[str, tuple[float, ...]]] = {
    "movies": {"comprehensiveness": (0.200, 0.240, 0.265, 0.306, 0.198, 0.256, 0.056),
               "sufficiency": (0.042, 0.013, 0.054, 0.002, 0.034, 0.008, 0.294)},
    "fever": {"comprehensiveness": (0.007, 0.008, 0.008, 0.009, 0.007, 0.008, 0.001),
              "sufficiency": (0.012, 0.011, 0.005, 0.004, 0.006, 0.006, 0.003)},
    "esnli": {"comprehensiveness": (0.117, 0.126, 0.099, 0.104, 0.117, 0.118, 0.058),
              "sufficiency": (0.420, 0.387, 0.461, 0.419, 0.476, 0.455, 0.366)},
}
SGT_TABLE1_METHODS: tuple[str, ...] = ("gradient", "integrated_gradients", "smoothgrad")
#: [SGT-supp] Table 2: area under the accuracy-drop curve (accuracy % over removed pixels %,
#: 10 to 90 %) on MNIST, Gradient, IID replacement, by training procedure.
SGT_SUPP_AUC: dict[str, float] = {"traditional": 3360.4, "saliency_guided": 1817.6,
                                  "fine_tuned": 2258.8}


#: [OBJ] appendix B.3 Table 1: test accuracy (%) per archive, (FCN, TCN); the registry's
#: ``fcn`` and ``tcn_obj`` are those two networks.
OBJ_TABLE1: dict[str, tuple[float, float]] = {
    "GunPointAgeSpan": (98.73, 97.15),
    "FordA": (89.77, 91.67),
    "FordB": (79.01, 80.37),
    "MelbournePedestrian": (90.13, 95.17),
    "NATOPS": (97.22, 95.56),
    "ElectricDevices": (69.51, 69.47),
}
#: [CS] Appendix D.1 Table 4, CIFAR-10, ResNet-164: (completeness, soundness) of the learned
#: masks per fill and lambda_TV (epsilon_1 = 0, epsilon_2 = 0.1); "distractor" is the table's
#: "Random image" fill (other images' pixels).
CS_TABLE4: dict[str, dict[float, tuple[float, float]]] = {
    "gray": {0.0: (0.92, 0.17), 0.001: (0.91, 0.18), 0.01: (0.83, 0.39), 0.1: (0.77, 0.57)},
    "distractor": {0.0: (0.86, 0.20), 0.001: (0.85, 0.21), 0.01: (0.77, 0.44),
                   0.1: (0.70, 0.62)},
}
#: The six classification datasets of [OBJ] Table 1 and Figures 4, 7 and 8.
OBJ_DATASETS: tuple[str, ...] = tuple(OBJ_TABLE1)


#: The papers' figures have no numbers: what each shows and what the paper reads from it, in
#: its words. The reproduction page measures the same quantities (saliencylab.report.figures)
#: and states its rule for each verdict. ``preset`` is the paper preset (``SCALES``);
#: ``datasets``, where given, are the paper's data: a run on other data stands in for them and
#: is shown, not compared.
PAPER_FIGURES: dict[str, dict[str, Any]] = {
    "[TSB] Figure 3": {
        "preset": "tsb-figure3",
        "shows": "the saliency distribution of ranked features for Middle box with the "
                 "Gaussian, Harmonic and CAR processes (gradient-based methods in the top row, "
                 "the rest in the bottom row)",
        "claim": "saliency decays exponentially with feature ranking, meaning that features "
                 "that are closely ranked might have substantially different saliency values "
                 "(§4.2)",
    },
    "[TSB] Figure 6": {
        "preset": "tsb-table1",
        "shows": "the model's accuracy while the features each method ranks as salient are "
                 "masked, against a random baseline (gradient-based methods left, the others "
                 "right)",
        "claim": "the rate of accuracy drop is not consistent; in many cases there is not much "
                 "improvement over random baseline (§5)",
    },
    "[TSB] Figure 7": {
        "preset": "tsb-table1",
        "shows": "box plots of precision and recall overall (top row) and on the time and "
                 "feature axes (second and third rows), across architectures and methods",
        "claim": "methods can identify informative time steps while fail to identify "
                 "informative features; AUPR in the time domain is higher than that in the "
                 "feature domain ... AUR in feature domain is very high while having very low "
                 "AUP (§5 (c), (d))",
    },
    "[TSB] Figure 8": {
        "preset": "tsb-figure8",
        "shows": "(a) saliency maps and the gradients' saliency per pixel category (informative "
                 "in time and feature, time only, feature only, neither) of a CNN on the series "
                 "as an image and of the TCN, Middle box; (b) maps of the CNN and of the TCN on "
                 "univariate, bivariate and multivariate series",
        "claim": "CNN correctly assigns higher saliency values to pixels with information in "
                 "both feature and time axes compared to the other categories, which is not the "
                 "case with TCN, that is biased in the time direction; CNN and univariate TCN "
                 "produce interpretable maps, while the maps for the bivariate and multivariate "
                 "TCN are harder to interpret (§6)",
    },
    "[OBJ] Figure 3": {
        "preset": "segmentation",
        "datasets": ("ToolTracking",),
        "shows": "(a) the localization of the nine methods on U-Time under the classic (flat), "
                 "front, middle and back positional biases, tool tracking data; (b) one map "
                 "per method",
        "claim": "GradCAM clearly outperforms the other methods on the localization metric "
                 "... LRP and Integrated Gradient perform worst ... saliency maps are located "
                 "better in the 'middle' of the annotated segments, compared to 'front' and "
                 "'back' (§4.2)",
    },
    "[OBJ] Figure 6": {
        "preset": "segmentation",
        "datasets": ("ToolTracking",),
        "shows": "the localization of the methods that apply to the bi-LSTM segmenter, tool "
                 "tracking data (the CAM variants and LRP do not apply)",
        "claim": "none of the visual interpretation methods, that are compatible with the "
                 "model's architecture, produce satisfactory saliency maps (Appendix C.1)",
    },
    "[OBJ] Figure 4": {
        "preset": "quality",
        "datasets": OBJ_DATASETS,
        "shows": "the five quality scores of the nine methods, aggregated over the FCN, the TCN "
                 "and the six datasets (a), and per dataset (b)",
        "claim": "Gradient, Integrated Gradients, LIME, and Kernel-SHAP consistently achieve "
                 "high sanity scores. In contrast, LRP, Guided GradCAM and Guided Backpropagation "
                 "often assign similar saliency even after randomizing network parameters ... "
                 "GradCAM shows the highest sensitivity ... Integrated Gradient and Guided "
                 "Backpropagation produce similar saliency maps, independent of a sample's class "
                 "... Gradient is less robust ... LIME and SmoothGrads also have a low average "
                 "robustness ... Guided GradCAM is able to produce highly stable saliency maps "
                 "(§4.3)",
    },
    "[OBJ] Figure 5": {
        "preset": "quality",
        "datasets": ("FordB",),
        "shows": "the scores of the nine methods as a heatmap for the TCN on FordB",
        "claim": "Gradient, IG and LIME achieve the three highest scores [in faithfulness and "
                 "sanity] ... Guided Backprop, Guided GradCAM and LRP fail the Sanity Check, "
                 "while Kernel-SHAP performs poorly in Faithfulness (§5)",
    },
    "[OBJ] Figure 7": {
        "preset": "quality",
        "datasets": OBJ_DATASETS,
        "shows": "(a) the scores per dataset for the TCN, (b) the relative scores (normalised "
                 "to mean 0, variance 1 per metric and dataset), (c) the scores of the FCN and "
                 "the TCN aggregated over datasets and methods",
        "claim": "the model architecture (FCN or TCN) matters little to the scores ... The "
                 "scores for FCN and TCN diverge slightly more for faithfulness (§4.3, "
                 "Appendix C.2)",
    },
    "[OBJ] Figure 8": {
        "preset": "quality",
        "datasets": OBJ_DATASETS,
        "shows": "the correlation matrix of the five metrics' scores",
        "claim": "no combination of our metric scores shows a high correlation. This shows "
                 "that each metric measures a quality independent of all other metrics "
                 "(Appendix C.2)",
    },
}


def paper_rows() -> list[dict[str, Any]]:
    """Every number above as one row: ``table`` (paper and table), ``dataset``, ``model``,
    ``method``, ``training``, ``metric``, ``value``; ``dataset`` is ``"mean"`` for [SGT]
    Table 2 (the mean over the 10 designs).

    >>> rows = paper_rows()
    >>> sorted({r["table"] for r in rows})[:2]
    ['[ICA] Table 1', '[SGT-supp] Table 5']
    """
    rows: list[dict[str, Any]] = []

    def add(
        table: str,
        dataset: str,
        model: str | None,
        method: str | None,
        training: str,
        metric: str,
        value: float,
    ) -> None:
        rows.append(
            {
                "table": table,
                "dataset": dataset,
                "model": model,
                "method": method,
                "training": training,
                "metric": metric,
                "value": float(value),
            }
        )

    for metric, by_arch in SGT_TABLE2.items():
        for arch, cells in by_arch.items():
            for (method, training), value in cells.items():
                add("[SGT] Table 2", "mean", arch, method, training, metric, value)
    for arch, by_metric in SGT_SUPP_DIFFS.items():
        for metric, by_design in by_metric.items():
            for design, values in by_design.items():
                for (method, training), value in _pairs(values).items():
                    add(SUPP_TABLE_OF[arch], design, arch, method, training, metric, value)
    for design, accs in SGT_SUPP_ACCURACY.items():
        for i, value in enumerate(accs):
            add(
                "[SGT-supp] Table 5",
                design,
                SGT_ARCHITECTURES[i // 2],
                None,
                _TRAININGS[i % 2],
                "test_accuracy_pct",
                value,
            )
    for design, by_method in TSB_TABLE1.items():
        for method, metrics in by_method.items():
            for metric, value in metrics.items():
                add("[TSB] Table 1", design, "tcn", method, "traditional", metric, value)
    for dataset, by_metric in SGT_TABLE1.items():
        for metric, values in by_metric.items():
            *pairs, random = values
            for i, value in enumerate(pairs):
                add("[SGT] Table 1", dataset, "bilstm", SGT_TABLE1_METHODS[i // 2],
                    _TRAININGS[i % 2], metric, value)
            add("[SGT] Table 1", dataset, "bilstm", "random", "traditional", metric, random)
    for training, value in SGT_SUPP_AUC.items():
        add("[SGT-supp] Table 2", "mnist", "mnist_cnn", "gradient", training,
            "accuracy_drop_iid", value)
    for dataset, accuracies in OBJ_TABLE1.items():
        for model, value in zip(("fcn", "tcn_obj"), accuracies, strict=True):
            add("[OBJ] Table 1", dataset, model, None, "traditional", "test_accuracy_pct", value)
    for model, by_design in ICA_TABLE1.items():
        for design, metrics in by_design.items():
            for metric, value in metrics.items():
                add("[ICA] Table 1", design, model, None, "traditional", metric, value)
    for fill, by_lambda in CS_TABLE4.items():  # the method labels of the certify experiment
        for lam, values in by_lambda.items():
            for metric, value in zip(("completeness", "soundness"), values, strict=True):
                add("[CS] Table 4", "CIFAR-10", None, f"learned_mask_tv{lam:g} ({fill})",
                    "traditional", metric, value)
    return rows
