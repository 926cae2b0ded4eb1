"""saliencylab.models."""
