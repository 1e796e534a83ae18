"""seethrough: offline-first, explainable deepfake detection for face videos and images."""

__version__ = "0.4.0"
