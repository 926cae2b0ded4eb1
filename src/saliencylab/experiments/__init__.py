"""Experiments that reproduce a paper's finding end to end on data shipped with the library.

- :func:`saliencylab.experiments.certify.run_certify`: learned masks certified by completeness and
  soundness ([CS] Gupta et al., NeurIPS 2022) on scikit-learn's digits and a synthetic
  time-series design, against Gradient x Input, SmoothGrad, random and centred-Gaussian maps.

Example:
    >>> from saliencylab.experiments import run_certify
    >>> index = run_certify("runs/certify", quick=True)  # doctest: +SKIP
"""

from saliencylab.experiments.certify import CertifySettings, run_certify

__all__ = ["CertifySettings", "run_certify"]
