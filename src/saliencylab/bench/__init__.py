"""saliencylab.bench."""
