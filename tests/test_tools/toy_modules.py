"""A tiny regression model, dataset and metric for exercising tools/train.py and tools/test.py.

Registered in mmengine's root registries, which Drive3D's scope falls back to. Loaded by the
test config through ``custom_imports`` (the test puts this folder on PYTHONPATH).
"""
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS

TRUE_WEIGHT = (2.0, -1.0)
TRUE_BIAS = 0.5


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """y = w.x + b fitted by MSE; ``inputs`` is a list of (2,) tensors."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(torch.stack(inputs)).squeeze(-1)
        targets = torch.stack(targets)
        if mode == 'loss':
            return dict(loss=((pred.float() - targets) ** 2).mean())
        if mode == 'predict':
            return [dict(pred=p.float(), target=t) for p, t in zip(pred, targets)]
        return pred


@DATASETS.register_module()
class ToyRegressionDataset(torch.utils.data.Dataset):

    def __init__(self, num_samples=64, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(num_samples, 2, generator=gen)
        self.y = self.x @ torch.tensor(TRUE_WEIGHT) + TRUE_BIAS

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        return dict(inputs=self.x[idx], targets=self.y[idx])


@METRICS.register_module()
class ToyMSE(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(float((d['pred'] - d['target']) ** 2) for d in data_samples)

    def compute_metrics(self, results):
        return dict(mse=sum(results) / len(results))
