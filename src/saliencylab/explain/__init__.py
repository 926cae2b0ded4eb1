"""saliencylab.explain."""
