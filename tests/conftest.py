"""Suite-wide settings: one torch thread (small tensors gain nothing from more, and a loaded
machine loses a lot) and a data cache that lives only as long as the test session."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory):
    previous = os.environ.get("SALIENCYLAB_CACHE")
    os.environ["SALIENCYLAB_CACHE"] = str(tmp_path_factory.mktemp("saliencylab-cache"))
    yield
    if previous is None:
        os.environ.pop("SALIENCYLAB_CACHE", None)
    else:
        os.environ["SALIENCYLAB_CACHE"] = previous

# The Ray tests run in a child process of tests/test_ray_isolated.py only.
collect_ignore = [] if os.environ.get("SALIENCYLAB_RAY_CHILD") else ["ray"]
