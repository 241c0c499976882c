"""Frozen CNN backbones, feature extraction, and the on-disk feature store."""
