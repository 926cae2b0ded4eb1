"""saliencylab.train."""
