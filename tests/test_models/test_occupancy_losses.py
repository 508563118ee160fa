"""Occupancy losses: hand-computed values, MonoScene reference, ignore / mask, edge cases."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdet3d_plugin.models.losses import (GeoScalLoss, LovaszSoftmaxLoss, SemScalLoss,
                                          occupancy_class_weights)
from mmdet3d_plugin.registry import MODELS

LOSSES = {
    'lovasz': lambda free: LovaszSoftmaxLoss(),
    'geo': lambda free: GeoScalLoss(free_index=free),
    'sem': lambda free: SemScalLoss(free_index=free),
}


def _two_class_case():
    """4 voxels in a row, labels (1, 1, 0, 0), p(class 1) = (0.9, 0.6, 0.3, 0.2)."""
    p1 = torch.tensor([0.9, 0.6, 0.3, 0.2], dtype=torch.float64)
    logits = torch.stack([torch.zeros(4, dtype=torch.float64), torch.log(p1 / (1 - p1))])
    return logits.float()[None, :, :, None, None], torch.tensor([1, 1, 0, 0])[None, :, None, None]


def _random_case(seed=0, shape=(2, 5, 4, 3, 2)):
    gen = torch.Generator().manual_seed(seed)
    b, k, x, y, z = shape
    logits = torch.randn(shape, generator=gen) * 2
    target = torch.randint(0, k, (b, x, y, z), generator=gen)
    return logits, target


def _monoscene_geo_scal(pred, ssc_target):
    """MonoScene's geo_scal_loss (free = class 0), transcribed for reference."""
    pred = F.softmax(pred, dim=1)
    empty_probs = pred[:, 0]
    nonempty_probs = 1 - empty_probs
    mask = ssc_target != 255
    nonempty_target = (ssc_target != 0)[mask].float()
    nonempty_probs, empty_probs = nonempty_probs[mask], empty_probs[mask]
    intersection = (nonempty_target * nonempty_probs).sum()
    precision = intersection / nonempty_probs.sum()
    recall = intersection / nonempty_target.sum()
    spec = ((1 - nonempty_target) * empty_probs).sum() / (1 - nonempty_target).sum()
    one = torch.ones(())
    return (F.binary_cross_entropy(precision, one) + F.binary_cross_entropy(recall, one)
            + F.binary_cross_entropy(spec, one))


def _monoscene_sem_scal(pred, ssc_target):
    """MonoScene's sem_scal_loss, transcribed for reference."""
    pred = F.softmax(pred, dim=1)
    loss, count = 0, 0
    mask = ssc_target != 255
    one = torch.ones(())
    for i in range(pred.shape[1]):
        p = pred[:, i][mask]
        target = (ssc_target[mask] == i).float()
        if target.sum() > 0:
            count += 1.0
            nominator = (p * target).sum()
            loss_class = F.binary_cross_entropy(nominator / p.sum(), one)
            loss_class = loss_class + F.binary_cross_entropy(nominator / target.sum(), one)
            if (1 - target).sum() > 0:
                spec = ((1 - p) * (1 - target)).sum() / (1 - target).sum()
                loss_class = loss_class + F.binary_cross_entropy(spec, one)
            loss = loss + loss_class
    return loss / count


def test_lovasz_two_class_case_by_hand():
    logits, target = _two_class_case()
    # class 1: errors |fg - p| sorted (0.4, 0.3, 0.2, 0.1) with fg (1, 0, 0, 1): Jaccard
    # (1/2, 2/3, 3/4, 1) -> increments (1/2, 1/6, 1/12, 1/4) -> 0.2 + 0.05 + 1/60 + 0.025;
    # class 0: errors (0.4, 0.3, 0.2, 0.1) with fg (0, 1, 1, 0): increments (1/3, 1/3, 1/3, 0)
    # -> 0.3. Mean over the two present classes.
    expected = ((0.2 + 0.05 + 1 / 60 + 0.025) + 0.3) / 2
    assert LovaszSoftmaxLoss()(logits, target).item() == pytest.approx(expected, abs=1e-6)
    assert LovaszSoftmaxLoss(loss_weight=2.0)(logits, target).item() == \
        pytest.approx(2 * expected, abs=1e-6)


def test_scal_two_class_case_by_hand():
    logits, target = _two_class_case()
    # occupied = class 1: TP mass 0.9 + 0.6 = 1.5, predicted mass 2.0, 2 occupied, 2 free with
    # free mass 0.7 + 0.8: precision = recall = specificity = 0.75 (and the same for class 0).
    expected = -3 * math.log(0.75)
    assert GeoScalLoss(free_index=0)(logits, target).item() == pytest.approx(expected, abs=1e-6)
    assert SemScalLoss(free_index=0)(logits, target).item() == pytest.approx(expected, abs=1e-6)
    # with class 1 as free space, "occupied" is class 0: same numbers by symmetry
    assert GeoScalLoss(free_index=1)(logits, target).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize('seed', [0, 1])
def test_scal_matches_monoscene_reference(seed):
    logits, target = _random_case(seed)
    target[0, 0, 0, 0] = 255
    target[target == 3] = 0  # class 3 absent: skipped by both
    assert GeoScalLoss(free_index=0)(logits, target).item() == pytest.approx(
        _monoscene_geo_scal(logits, target).item(), rel=1e-5)
    assert SemScalLoss(free_index=0)(logits, target).item() == pytest.approx(
        _monoscene_sem_scal(logits, target).item(), rel=1e-5)


def test_geo_scal_free_index_is_a_relabelling():
    logits, target = _random_case(2)
    k = logits.shape[1]
    perm = torch.tensor([k - 1] + list(range(k - 1)))  # class k-1 moved to position 0
    inverse = torch.argsort(perm)
    assert GeoScalLoss(free_index=k - 1)(logits, target).item() == pytest.approx(
        GeoScalLoss(free_index=0)(logits[:, perm], inverse[target]).item(), rel=1e-6)


def test_perfect_logits_give_zero_losses():
    _, target = _random_case(3)
    logits = 30.0 * F.one_hot(target, 5).movedim(-1, 1).float()
    for make in LOSSES.values():
        assert make(0)(logits, target).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_ignored_and_masked_voxels_do_not_change_the_loss(name):
    loss_fn = LOSSES[name](0)
    logits, target = _random_case(4)
    ignored = torch.zeros_like(target, dtype=torch.bool)
    ignored[0, :2] = True
    outside = torch.zeros_like(ignored)
    outside[1, 1:3] = True
    target = target.masked_fill(ignored, 255)
    mask = ~outside
    logits.requires_grad_(True)
    loss = loss_fn(logits, target, mask)
    loss.backward()
    grad = logits.grad.movedim(1, -1)
    assert torch.isfinite(grad).all() and grad[~ignored & mask].abs().sum() > 0
    assert (grad[ignored | outside] == 0).all()
    # garbage logits / labels where the voxel is dropped give the same loss
    other_logits = torch.where((ignored | outside)[:, None], torch.randn_like(logits) * 9, logits)
    other_target = target.masked_fill(outside, 2)
    assert loss_fn(other_logits, other_target.to(torch.uint8), mask).item() == \
        pytest.approx(loss.item(), rel=1e-6)


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_all_free_and_all_ignored_frames(name):
    loss_fn = LOSSES[name](2)
    logits, _ = _random_case(5)
    logits.requires_grad_(True)
    all_free = torch.full((2, 4, 3, 2), 2)
    loss = loss_fn(logits, all_free)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0 and torch.isfinite(logits.grad).all()
    if name == 'geo':  # only specificity is defined: -log(mean p_free)
        expected = -torch.log(logits.detach().softmax(1)[:, 2].mean())
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    logits.grad = None
    loss = loss_fn(logits, torch.full_like(all_free, 255))
    loss.backward()
    assert loss.item() == 0.0 and (logits.grad == 0).all()
    mask = torch.zeros_like(all_free, dtype=torch.bool)
    assert loss_fn(logits, all_free, mask).item() == 0.0


def test_fully_occupied_frame_and_single_valid_voxel():
    logits, target = _random_case(6)
    target = target.clamp(min=1)  # no free voxel (free_index=0): no specificity term in geo
    assert torch.isfinite(GeoScalLoss(free_index=0)(logits, target))
    single = torch.full_like(target, 255)
    single[0, 0, 0, 0] = 3
    for make in LOSSES.values():
        assert torch.isfinite(make(0)(logits, single))


def test_lovasz_per_sample_and_class_options():
    logits, target = _random_case(7)
    per_sample = LovaszSoftmaxLoss(per_sample=True)(logits, target)
    singles = [LovaszSoftmaxLoss()(logits[i:i + 1], target[i:i + 1]) for i in range(2)]
    assert per_sample.item() == pytest.approx(torch.stack(singles).mean().item(), rel=1e-6)
    target[target == 4] = 0  # class 4 absent: 'all' also averages its term, max p_4 (IoU 0)
    present = LovaszSoftmaxLoss()(logits, target).item()
    absent_term = logits.softmax(1)[:, 4].max().item()
    assert LovaszSoftmaxLoss(classes='all')(logits, target).item() == pytest.approx(
        (4 * present + absent_term) / 5, rel=1e-5)
    with pytest.raises(ValueError, match='class_weight'):
        LovaszSoftmaxLoss(class_weight=[1.0, 2.0])(logits, target)
    with pytest.raises(ValueError, match='classes'):
        LovaszSoftmaxLoss(classes='some')


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_bad_inputs_raise_naming_the_tensor(name):
    loss_fn = LOSSES[name](0)
    logits, target = _random_case(8)
    with pytest.raises(ValueError, match='`logits`'):
        loss_fn(logits[:, :, :, :, 0], target)
    with pytest.raises(ValueError, match='`target`'):
        loss_fn(logits, target[:, :, :, 0])
    with pytest.raises(ValueError, match='`target`'):
        loss_fn(logits, target.float())
    with pytest.raises(ValueError, match='`target`.*outside'):
        loss_fn(logits, target.masked_fill(target == 1, 7))
    with pytest.raises(ValueError, match='`mask`'):
        loss_fn(logits, target, torch.ones(2, 4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match='`mask`'):
        loss_fn(logits, target, torch.ones_like(target))
    if name != 'lovasz':
        with pytest.raises(ValueError, match='free_index'):
            LOSSES[name](5)(logits, target)


def test_losses_build_from_the_registry():
    logits, target = _two_class_case()
    for cfg in (dict(type='LovaszSoftmaxLoss'), dict(type='GeoScalLoss', free_index=0),
                dict(type='SemScalLoss', free_index=0, loss_weight=0.5)):
        loss_fn = MODELS.build(cfg)
        assert torch.isfinite(loss_fn(logits, target))


def test_occupancy_class_weights():
    counts = [1e9, 1e6, 100, 0]
    raw = occupancy_class_weights(counts, normalize=False)
    expected = [1 / math.log(c + 0.001) for c in counts[:3]]
    assert raw == pytest.approx(expected + [expected[2]])  # unseen class: largest weight
    normalized = occupancy_class_weights(torch.tensor(counts))
    assert sum(normalized) / 4 == pytest.approx(1.0)
    assert normalized == pytest.approx([w / (sum(raw) / 4) for w in raw])
    sqrt = occupancy_class_weights([75, 25], mode='inverse_sqrt', normalize=False)
    assert sqrt == pytest.approx([1 / math.sqrt(0.75), 1 / math.sqrt(0.25)])
    for bad, match in (([[1, 2]], '1-D'), ([1, -1], '>= 0'), ([0, 0], 'every entry'),
                       ([0.7, 0.3], 'frequencies')):
        with pytest.raises(ValueError, match=match):
            occupancy_class_weights(bad)
    with pytest.raises(ValueError, match='mode'):
        occupancy_class_weights([1, 2], mode='median')


def test_mmdet_cross_entropy_takes_5d_logits_with_class_weight_and_ignore_index():
    logits, target = _random_case(9)
    target[0, 0] = 255
    weights = occupancy_class_weights([5e6, 2e4, 3e3, 800, 90])
    loss_fn = MODELS.build(dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                                class_weight=weights, ignore_index=255, avg_non_ignore=True))
    per_voxel = F.cross_entropy(logits, target, weight=torch.tensor(weights), ignore_index=255,
                                reduction='none')
    valid = target != 255
    expected = per_voxel[valid].sum() / valid.sum()
    assert loss_fn(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)
    garbage = torch.where((~valid)[:, None], torch.randn_like(logits) * 9, logits)
    assert loss_fn(garbage, target).item() == pytest.approx(expected.item(), rel=1e-6)
