"""Metrics: functional cores (pure numpy/torch, parameterised by convention) and their
mmengine ``BaseMetric`` wrappers registered in ``mmdet3d_plugin.registry.METRICS``."""
