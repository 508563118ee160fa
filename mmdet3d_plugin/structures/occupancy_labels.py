"""Semantic-occupancy label conventions (one source for writers, loaders and metrics)."""

#: Occ3D-nuScenes labels (index = label); 17 is free.
OCC3D_CLASS_NAMES = ('others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle',
                     'motorcycle', 'pedestrian', 'traffic_cone', 'trailer', 'truck',
                     'driveable_surface', 'other_flat', 'sidewalk', 'terrain', 'manmade',
                     'vegetation', 'free')
OCC3D_FREE_INDEX = 17

#: nuScenes-Occupancy labels of the dense grid (index = label); 0 is free, 255 noise (ignored;
#: written as class 0 in the sparse files).
NUSC_OCC_CLASS_NAMES = ('free', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle',
                        'motorcycle', 'pedestrian', 'traffic_cone', 'trailer', 'truck',
                        'driveable_surface', 'other_flat', 'sidewalk', 'terrain', 'manmade',
                        'vegetation')
NUSC_OCC_FREE_INDEX = 0
NUSC_OCC_NOISE_INDEX = 255
