"""saliencylab.report."""
