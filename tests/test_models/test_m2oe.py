"""M²oE variants (RE / HE), their balancing loss and routing statistics, MetaBEV's loss terms and
the M²oE ablation configs."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmdet3d_plugin.metabev import BEVEvolvingDecoder, MultiTaskMoEFFN
from mmdet3d_plugin.metabev.m2oe import importance_cv_loss, switch_balance_loss
from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import make_batch

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / 'configs/metabev/ablation'
TASKS = ('det', 'seg')
VARIANTS = {'re': dict(num_experts=4), 'he': dict(num_experts=2, num_task_experts=2)}


def _moe(variant: str, embed_dims: int = 8, **kwargs) -> MultiTaskMoEFFN:
    torch.manual_seed(0)
    args = dict(VARIANTS[variant], top_k=2, tasks=TASKS, variant=variant)
    args.update(kwargs)
    return MultiTaskMoEFFN(embed_dims, 16, **args)


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_gates_sum_to_one_over_each_tokens_top_k(variant):
    moe = _moe(variant)
    tokens = torch.randn(20, 8)
    assert moe.num_total_experts == (4 if variant == 're' else 6)
    for task in TASKS:
        gates = moe.gates(tokens, task)
        assert gates.shape == (20, moe.num_total_experts)
        assert ((gates > 0).sum(-1) == 2).all()
        torch.testing.assert_close(gates.sum(-1), torch.ones(20))
        allowed = torch.zeros(moe.num_total_experts, dtype=torch.bool)
        allowed[moe.expert_ids(task)] = True
        assert (gates[:, ~allowed] == 0).all()  # never another task's expert
    if variant == 'he':  # bank order [shared, det's, seg's]
        assert moe.expert_ids('det').tolist() == [0, 1, 2, 3]
        assert moe.expert_ids('seg').tolist() == [0, 1, 4, 5]


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_each_variant_keeps_the_token_shape_and_one_pass_equals_per_task_calls(variant):
    moe = _moe(variant).eval()
    x = torch.randn(2, 7, 8)
    both = moe.forward_tasks(x, TASKS)
    for task in TASKS:
        assert both[task].shape == (2, 7, 8)
        torch.testing.assert_close(both[task], moe(x, task))
    assert not torch.allclose(both['det'], both['seg'])
    decoder = BEVEvolvingDecoder([6, 10], 16, (6, 6), num_layers=2, num_heads=4, num_points=2,
                                 ffn_channels=32, moe_layers=(0, 1),
                                 moe=dict(VARIANTS[variant], top_k=2, variant=variant))
    out = decoder([torch.randn(2, 6, 6, 6), torch.randn(2, 10, 3, 3)],
                  torch.ones(2, 2, dtype=torch.bool))
    assert {task: tuple(v.shape) for task, v in out.items()} == {t: (2, 16, 6, 6) for t in TASKS}
    stats = decoder.routing_stats()
    assert sorted(stats) == ['layer0', 'layer1'] and sorted(stats['layer1']) == list(TASKS)
    for usage in stats['layer0'].values():
        assert usage.shape == (decoder.layers[0].ffn.num_total_experts, )
        torch.testing.assert_close(usage.sum(), torch.tensor(1.0))


def test_balancing_loss_is_minimal_for_uniform_and_larger_for_collapsed_routing():
    """Hand-built routers over 4 experts (top-2): one that sends token i to experts i and i + 1
    (so usage and mean probability are uniform), and one whose bias sends every token to
    expert 0."""
    moe = MultiTaskMoEFFN(4, 8, num_experts=4, top_k=2, tasks=('det', ))
    tokens = torch.eye(4).repeat(5, 1)  # 20 tokens, 5 per expert
    router = moe.routers['det']
    with torch.no_grad():
        router.weight.copy_(5 * torch.eye(4) + 2 * torch.eye(4).roll(1, 0))  # i, then i + 1
        router.bias.zero_()
    uniform = moe.route(tokens, 'det')
    with torch.no_grad():
        router.weight.zero_()
        router.bias.copy_(torch.tensor([10.0, 0.0, 0.0, 0.0]))
    collapsed = moe.route(tokens, 'det')
    assert switch_balance_loss(*uniform[:2]).item() == pytest.approx(1.0, abs=1e-5)
    assert switch_balance_loss(*collapsed[:2]).item() == pytest.approx(2.0, abs=1e-3)  # E / k
    assert importance_cv_loss(uniform.probs).item() == pytest.approx(0.0, abs=1e-6)
    assert importance_cv_loss(collapsed.probs).item() > 2.5  # all importance on one expert
    torch.testing.assert_close(moe.usage(uniform), torch.full((4, ), 0.25))
    assert moe.usage(collapsed)[0].item() == pytest.approx(0.5)  # expert 0 in every top-2


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_gradients_reach_every_router_from_the_output_and_from_the_balancing_loss(variant):
    decoder = BEVEvolvingDecoder([6, 10], 16, (6, 6), num_layers=1, num_heads=4, num_points=2,
                                 ffn_channels=32, moe_layers=(0, ),
                                 moe=dict(VARIANTS[variant], top_k=2, variant=variant))
    routers = decoder.layers[0].ffn.routers
    feats = [torch.randn(2, 6, 6, 6), torch.randn(2, 10, 6, 6)]
    for term in ('output', 'balance'):
        decoder.zero_grad(set_to_none=True)
        out = decoder(feats, torch.ones(2, 2, dtype=torch.bool))
        aux = decoder.moe_aux()
        loss = sum(v.pow(2).mean() for v in out.values()) if term == 'output' else aux['balance']
        loss.backward()
        for task in TASKS:
            assert routers[task].weight.grad is not None, (term, task)
            assert routers[task].weight.grad.abs().sum() > 0, (term, task)
    assert set(aux['usage_entropy']) == set(TASKS)
    assert all(0 < v <= 1 for v in aux['usage_entropy'].values())


def test_he_private_experts_serve_only_their_task():
    moe = _moe('he').eval()
    x = torch.randn(3, 8)
    before = moe.forward_tasks(x, TASKS)
    det_private = moe.expert_ids('det')[moe.num_shared:]
    with torch.no_grad():
        moe.w_out[det_private] = 0
        moe.b_out[det_private] = 0
    after = moe.forward_tasks(x, TASKS)
    torch.testing.assert_close(after['seg'], before['seg'])  # seg never reads det's experts
    assert not torch.allclose(after['det'], before['det'])


def test_bad_m2oe_settings_fail_early():
    with pytest.raises(ValueError, match="variant='moe'"):
        MultiTaskMoEFFN(8, 16, num_experts=4, top_k=2, tasks=TASKS, variant='moe')
    with pytest.raises(ValueError, match="needs num_task_experts >= 1"):
        MultiTaskMoEFFN(8, 16, num_experts=4, top_k=2, tasks=TASKS, variant='he')
    with pytest.raises(ValueError, match="needs variant='he'"):
        MultiTaskMoEFFN(8, 16, num_experts=4, top_k=2, tasks=TASKS, num_task_experts=1)
    with pytest.raises(ValueError, match='top_k=3'):  # HE: 1 shared + 1 own per task
        MultiTaskMoEFFN(8, 16, num_experts=1, top_k=3, tasks=TASKS, variant='he',
                        num_task_experts=1)
    with pytest.raises(ValueError, match="balance_loss='l2'"):
        MultiTaskMoEFFN(8, 16, num_experts=4, top_k=2, tasks=TASKS, balance_loss='l2')


def test_router_noise_only_in_training():
    moe = _moe('re', router_noise_std=1.0)
    tokens = torch.randn(50, 8)
    moe.eval()
    torch.testing.assert_close(moe.gates(tokens, 'det'), moe.gates(tokens, 'det'))
    moe.train()
    assert not torch.allclose(moe.gates(tokens, 'det'), moe.gates(tokens, 'det'))


def _cfg(name: str) -> Config:
    return Config.fromfile(str(ABLATION / f'metabev_lidar-cam_tiny-{name}_1xb2-cpu_synthetic.py'))


def test_ablation_configs_build_what_they_name():
    built = {}
    for name in ('det-only', 'seg-only', 'no-moe', 're-moe', 'he-moe'):
        cfg = _cfg(name)
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            built[name] = (cfg, MODELS.build(cfg.model))
    for name, (cfg, model) in built.items():
        moe = model.fuser.moe_ffns()
        assert (model.bbox_head is None) == (name == 'seg-only'), name
        assert (model.seg_head is None) == (name == 'det-only'), name
        assert sorted(moe) == ([0] if name.endswith('-moe') and name != 'no-moe' else []), name
        metrics = [m['type'] for m in cfg.val_evaluator]
        assert metrics == {'det-only': ['NuScenesMetric'], 'seg-only': ['BEVMapSegMetric']}.get(
            name, ['NuScenesMetric', 'BEVMapSegMetric']), name
        for metric in cfg.val_evaluator:
            if 'data_root' in metric:  # written out in the single-task configs
                assert metric['data_root'] == cfg.data_root, name
        reference = built['no-moe'][0]
        assert cfg.train_dataloader == reference.train_dataloader  # same data and schedule
        assert cfg.param_scheduler == reference.param_scheduler
    assert built['re-moe'][1].fuser.moe_ffns()[0].variant == 're'
    he = built['he-moe'][1].fuser.moe_ffns()[0]
    assert (he.variant, he.num_shared, he.num_task_experts) == ('he', 2, 2)


def _he_model():
    cfg = _cfg('he-moe')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model).train()


def test_metabev_reports_the_balancing_terms_of_its_last_fusion():
    """The HE ablation model's decoder on random BEV maps, then the detector's M²oE terms."""
    model = _he_model()
    channels, shape = model.fuser.in_channels, model.fuser.bev_shape
    model.fuser([torch.randn(1, c, *shape) for c in channels], torch.ones(1, 2, dtype=torch.bool))
    terms = model.moe_loss_terms()
    assert set(terms) == {'loss_moe_balance', 'moe_balance', 'moe_usage_entropy.det',
                          'moe_usage_entropy.seg'}
    torch.testing.assert_close(terms['loss_moe_balance'], 0.01 * terms['moe_balance'])
    assert not terms['moe_balance'].requires_grad  # logged only
    terms['loss_moe_balance'].backward()
    routers = model.fuser.moe_ffns()[0].routers  # the one decoder layer
    assert all(routers[t].weight.grad.abs().sum() > 0 for t in TASKS)
    model.moe_balance_weight = 0.0  # the class default: logged, not trained on
    assert set(model.moe_loss_terms()) == set(terms) - {'loss_moe_balance'}


@pytest.mark.slow
def test_he_ablation_config_runs_a_loss_step_with_the_balancing_term():
    model = _he_model()
    # LiDAR only (an input state MetaBEV serves): skips the image backbone
    batch = make_batch(batch_size=1, num_points=2000, num_boxes=(2, ), with_imgs=False)
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert {'loss_moe_balance', 'moe_balance', 'moe_usage_entropy.det',
            'moe_usage_entropy.seg', 'task0.loss_heatmap', 'loss_map_drivable_area'} <= set(losses)
    torch.testing.assert_close(losses['loss_moe_balance'], 0.01 * losses['moe_balance'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    routers = model.fuser.moe_ffns()[0].routers  # the one decoder layer
    assert all(routers[t].weight.grad.abs().sum() > 0 for t in TASKS)


def test_he_paper_config_is_the_re_paper_config_but_its_m2oe():
    names = [f'metabev_lidar-cam_swint-voxel0075_bev-evolving-{variant}_8xb4-cyclic-20e_'
             'nus-3d-map.py' for variant in ('m2oe', 'he-moe')]
    resolved = [Config.fromfile(str(REPO / 'configs/metabev' / name)).to_dict() for name in names]
    re_moe, he_moe = (cfg['model']['fuser'].pop('moe') for cfg in resolved)
    assert resolved[0] == resolved[1]  # branches, heads, recipe, schedule, load_from
    assert re_moe == dict(num_experts=4, top_k=2)  # RE: the class defaults
    assert he_moe == dict(variant='he', num_experts=2, num_task_experts=2, top_k=2)
