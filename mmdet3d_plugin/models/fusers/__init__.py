"""Fusers: combine per-modality BEV maps into one (or per-task) BEV representation."""
from .conv_fuser import ConvFuser

__all__ = ['ConvFuser']
