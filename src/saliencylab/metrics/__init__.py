"""saliencylab.metrics."""
