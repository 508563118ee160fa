#!/usr/bin/env python
"""Print Drive3D's environment and check each component (exit 1 if one is broken)."""
import sys

from mmdet3d_plugin.utils.collect_env import main

if __name__ == '__main__':
    sys.exit(main())
