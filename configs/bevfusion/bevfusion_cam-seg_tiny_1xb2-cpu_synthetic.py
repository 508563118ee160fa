# BEVFusion camera-only BEV map segmentation on the synthetic world on CPU (BEVFusion's
# camera-only segmentation setting, tiny): the camera-only tiny model without the detection
# head, scored by the map IoU alone. The reference for what the tiny camera branch can put on
# the map when nothing else shares its BEV encoder (configs/metabev/README.md, "make demo").
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/bevfusion-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]
model = dict(pts_voxel_encoder=None, pts_middle_encoder=None, bbox_head=None)
# the dataset base's map metric alone (there are no boxes to score)
val_evaluator = [dict(type='BEVMapSegMetric', class_names={{_base_.map_classes}})]
test_evaluator = val_evaluator
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
