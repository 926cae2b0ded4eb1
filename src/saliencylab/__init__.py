"""saliencylab: explain, evaluate and improve the saliency maps of PyTorch models.

Time series first (``(batch, time, features)``), images ``(batch, C, H, W)`` and text token ids
``(batch, tokens)`` too. See the README for a tour of the API and the command-line tool.
"""

from saliencylab.errors import SaliencyLabError

__version__ = "0.1.0"
__all__ = ["SaliencyLabError", "__version__"]
