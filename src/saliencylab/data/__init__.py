"""saliencylab.data."""
