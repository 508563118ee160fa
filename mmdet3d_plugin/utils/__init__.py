"""Package-wide helpers: module registration, environment report, tiny test models."""
from .setup_env import register_all_modules

__all__ = ['register_all_modules']
