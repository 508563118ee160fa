"""Data transforms (loading, augmentation, sensor corruptions, formatting)."""
