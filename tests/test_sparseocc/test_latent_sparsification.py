"""SparseOcc's opt-in latent sparsification: the defaults unchanged, the active set by lifted
mass (``mass_channel`` / ``keep_mass_ratio`` / ``min_mass``), ``prune_before_completion``."""
import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.sparseocc import mass_active_mask, prune_voxels, volume_to_sparse
from mmdet3d_plugin.testing import make_occupancy_batch

SYNTHETIC = 'configs/sparseocc/sparseocc_cam_tiny_1xb2-cpu_synthetic.py'


def _diffuser(**kwargs):
    args = dict(type='SparseLatentDiffuser', in_channels=3, channels=(4, 6),
                completion_layers=(1, 1), completion_xy_only=(False, True))
    args.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(args).eval()


def _sparse_volume(batch=2, channels=3, shape=(4, 12, 12), share=0.2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand(batch, 1, *shape, generator=gen) < share
    return torch.randn(batch, channels, *shape, generator=gen) * keep


def _rows(x):
    return [tuple(r) for r in x.indices.tolist()]


def _reference_forward(enc, volume):
    """The diffuser's forward before the options were added (prune after completion)."""
    x = volume_to_sparse(volume)
    if enc.stem is not None:
        x = enc.stem(x)
    levels, prune = [], []
    for stage, (context, completion) in enumerate(zip(enc.context, enc.completion)):
        if stage > 0:
            x = enc.downsample[stage - 1](x)
        x = completion(context(x))
        if stage in enc.prune_stages:
            logits = enc.occupancy[str(stage)](x.features)
            prune.append(x.replace_feature(logits))
            x, _ = prune_voxels(x, logits[:, 0].detach(), enc.prune_threshold,
                                enc.min_keep_ratio)
        levels.append(x)
    return levels, prune


@pytest.mark.parametrize('explicit', [False, True])
def test_defaults_give_the_previous_active_sets_and_outputs(explicit):
    options = dict(prune_before_completion=False, mass_channel=False, keep_mass_ratio=None,
                   min_mass=None) if explicit else {}
    enc = _diffuser(channels=(5, 6), prune_stages=(0, 1), prune_threshold=0.7,
                    min_keep_ratio=0.3, **options)
    for head in enc.occupancy.values():
        head.bias.data.zero_()  # prune below the floor: the kept set depends on the logits
    volume = _sparse_volume()
    assert (enc.mass_channel, enc.prune_before_completion, enc.volume_channels) == (False,
                                                                                    False, 3)
    assert torch.equal(enc.input_mask(volume), volume.abs().sum(1) > 0)
    with torch.no_grad():
        latent = enc(volume)
        levels, prune = _reference_forward(enc, volume)
    assert len(latent.prune) == 2 and latent.num_voxels[0] < 2 * 4 * 12 * 12
    for ours, ref in zip(latent.levels + latent.prune, levels + prune):
        assert torch.equal(ours.indices, ref.indices) and torch.equal(ours.features,
                                                                      ref.features)
    assert set(enc.state_dict()) == set(_diffuser(channels=(5, 6), prune_stages=(0, 1))
                                        .state_dict())  # no new weights


def test_configs_keep_the_options_off():
    for path in (SYNTHETIC, 'configs/sparseocc/sparseocc_cam-r50_8xb1-24e_nus-occupancy.py'):
        model = Config.fromfile(path).model
        assert 'append_mass' not in model.view_transform
        assert not {'mass_channel', 'keep_mass_ratio', 'min_mass',
                    'prune_before_completion'} & set(model.occ_encoder)


def test_keep_mass_ratio_keeps_the_top_share_of_each_sample_by_mass():
    mass = torch.zeros(3, 1, 2, 5)  # (B, Z, Y, X), row-major flat index y * 5 + x
    mass[0, 0, 0] = torch.tensor([0.5, 0.0, 2.0, 0.5, 0.1])
    mass[0, 0, 1] = torch.tensor([0.0, 3.0, 0.5, 0.2, 0.0])  # 7 with mass, a tie at 0.5
    mass[1, 0, 1, 4] = 0.05  # one voxel with mass
    # sample 2: none
    kept = mass_active_mask(mass, keep_ratio=0.5)  # sample 0: ceil(3.5) = 4 of 7
    assert kept.dtype == torch.bool and kept.shape == mass.shape
    flat = kept.reshape(3, -1)
    # 3.0 (6), 2.0 (2), then the three 0.5 at 0, 3, 7: the lower indices 0 and 3 win the tie
    assert flat[0].nonzero()[:, 0].tolist() == [0, 2, 3, 6]
    assert flat[1].nonzero()[:, 0].tolist() == [9] and not flat[2].any()
    tiny = mass_active_mask(mass, keep_ratio=0.01).reshape(3, -1)  # at least one per sample
    assert tiny[0].nonzero()[:, 0].tolist() == [6] and tiny[1].sum() == 1 and not tiny[2].any()
    assert torch.equal(mass_active_mask(mass), mass > 0)
    assert torch.equal(mass_active_mask(mass, keep_ratio=1.0), mass > 0)
    by_mass = mass_active_mask(mass, min_mass=0.5).reshape(3, -1)
    assert by_mass[0].nonzero()[:, 0].tolist() == [0, 2, 3, 6, 7] and not by_mass[1].any()
    both = mass_active_mask(mass, keep_ratio=0.3, min_mass=0.1).reshape(3, -1)  # ceil(2.1) = 3
    assert both[0].nonzero()[:, 0].tolist() == [0, 2, 6] and not both[1].any()
    with pytest.raises(ValueError, match=r'keep_ratio must be in \(0, 1\]'):
        mass_active_mask(mass, keep_ratio=0.0)
    with pytest.raises(ValueError, match='min_mass must be > 0'):
        mass_active_mask(mass, min_mass=0.0)


def test_mass_channel_selects_the_voxels_strips_the_mass_and_keeps_gradients():
    """One stage without completion layers: level 0 is the selected set itself."""
    enc = _diffuser(in_channels=3, channels=(3, ), completion_layers=(0, ),
                    completion_xy_only=(True, ), mass_channel=True, keep_mass_ratio=0.25).train()
    assert enc.stem is None and enc.volume_channels == 4
    feats = _sparse_volume(share=0.3)
    mass = torch.rand(2, 1, 4, 12, 12) * (feats.abs().sum(1, keepdim=True) > 0)
    volume = torch.cat([feats, mass], 1).requires_grad_(True)
    expected = mass_active_mask(mass[:, 0], keep_ratio=0.25)
    counts = (mass[:, 0] > 0).flatten(1).sum(1)
    assert expected.flatten(1).sum(1).tolist() == torch.ceil(counts * 0.25).long().tolist()
    assert torch.equal(enc.input_mask(volume), expected)
    latent = enc(volume)
    assert _rows(latent.levels[0]) == [tuple(r) for r in expected.nonzero().tolist()]
    latent.levels[0].features.square().sum().backward()
    grad = volume.grad
    assert grad[:, 3].abs().sum() == 0  # the mass is not a feature
    assert (grad[:, :3].abs().sum(1) > 0)[~expected].sum() == 0  # only the kept voxels
    assert (grad[:, :3].abs().sum(1) > 0)[expected].float().mean() > 0.9
    with pytest.raises(ValueError, match=r'volume must be \(B, 4 \(in_channels \+ the mass '
                                         r'channel\), Z, Y, X\), got \(2, 3, 4, 12, 12\)'):
        enc(feats)


def test_option_errors_name_the_keys():
    with pytest.raises(ValueError, match='keep_mass_ratio .* need mass_channel=True'):
        _diffuser(keep_mass_ratio=0.25)
    with pytest.raises(ValueError, match='prune_before_completion=True needs prune_stages'):
        _diffuser(prune_before_completion=True)
    with pytest.raises(ValueError, match=r'keep_mass_ratio must be in \(0, 1\]'):
        _diffuser(mass_channel=True, keep_mass_ratio=1.5)
    cfg = Config.fromfile(SYNTHETIC).model
    cfg.view_transform.append_mass = True  # but the diffuser takes no mass channel
    with pytest.raises(ValueError, match='set view_transform.append_mass and '
                                         'occ_encoder.mass_channel together'):
        MODELS.build(cfg)


@pytest.mark.parametrize('before', [True, False])
def test_prune_before_completion_prunes_the_context_output_then_completes(before):
    """Equal logits (zero head): the floor keeps each sample's first ceil(0.5 N) rows."""
    enc = _diffuser(in_channels=2, channels=(2, ), completion_layers=(1, ),
                    completion_xy_only=(True, ), prune_stages=(0, ), prune_threshold=1.0,
                    min_keep_ratio=0.5, prune_before_completion=before)
    head = enc.occupancy['0']
    head.weight.data.zero_()
    head.bias.data.zero_()
    sites = [(0, 0, 1, 1), (0, 0, 5, 5), (0, 1, 8, 2), (0, 1, 8, 8), (1, 0, 0, 0)]
    volume = torch.zeros(2, 2, 2, 10, 10)
    for b, z, y, x in sites:
        volume[b, :, z, y, x] = 1.0
    with torch.no_grad():
        latent = enc(volume)
    scored, level = latent.prune[0], latent.levels[0]

    def around(site):  # the ground-plane completion's reach, +-1 in y and x
        b, z, y, x = site
        return {(b, z, j, i) for j in range(max(y - 1, 0), min(y + 2, 10))
                for i in range(max(x - 1, 0), min(x + 2, 10))}

    def first_half(rows):
        return {r for b in (0, 1) for r in [r for r in rows if r[0] == b]
                [:-(-len([r for r in rows if r[0] == b]) // 2)]}

    if before:  # scored: the input (SubM context keeps it); completion grows the kept half
        assert _rows(scored) == sites
        assert set(_rows(level)) == set().union(*(around(s) for s in first_half(sites)))
    else:  # scored: the completed set; the kept half of it
        assert set(_rows(scored)) == set().union(*(around(s) for s in sites))
        assert set(_rows(level)) == first_half(_rows(scored))
    assert scored.features.shape == (len(_rows(scored)), 1)


def test_sparseocc_with_mass_sparsification_and_early_pruning_trains():
    cfg = Config.fromfile(SYNTHETIC)
    cfg.merge_from_dict({'model.view_transform.append_mass': True,
                         'model.occ_encoder.mass_channel': True,
                         'model.occ_encoder.keep_mass_ratio': 0.25,
                         'model.occ_encoder.prune_before_completion': True})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    batch = make_occupancy_batch(batch_size=1, depth_shape=(16, 44))
    model.train()
    data = model.data_preprocessor(batch, training=True)
    volume, _ = model.lift(data['inputs']['imgs'], data['data_samples'])
    assert volume.shape[1] == 17
    selected = int(model.occ_encoder.input_mask(volume).sum())
    assert selected == -(-int((volume[:, -1] > 0).sum()) // 4)
    losses = model(**data, mode='loss')
    assert 'loss_prune' in losses and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.view_transform.depth_net[-1].weight.grad.abs().sum() > 0
    assert model.occ_encoder.occupancy['0'].weight.grad.abs().sum() > 0
