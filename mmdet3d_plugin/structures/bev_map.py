"""BEV map segmentation classes (one source for the map loader, the map head, the metric and
the views)."""

#: The six nuScenes map classes BEVFusion segments and evaluates, in its channel order;
#: ``divider`` is the union of the map's ``road_divider`` and ``lane_divider`` layers. Classes
#: may overlap (a ``ped_crossing`` lies on the ``drivable_area``), so each is a binary mask.
BEV_MAP_CLASSES = ('drivable_area', 'ped_crossing', 'walkway', 'stop_line', 'carpark_area',
                   'divider')
