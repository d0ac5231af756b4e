"""Optimizers and clip_grad_norm_ against torch.optim, fed identical gradients step for step."""
import numpy as np
import pytest

from util import assert_close

from xpnet import Parameter, optim
from xpnet.backend import asarray, backend_of, move, to_numpy, using

SHAPES = [(3, 4), (5,), (2, 3, 2)]

VARIANTS = [
    ("SGD", {}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.3, "eps": 1e-3}),
    ("Adagrad", {"maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"alpha": 0.9, "momentum": 0.9, "weight_decay": 0.1}),
    ("RMSprop", {"centered": True, "eps": 1e-3}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"eps": 1e-3, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True, "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.05, "betas": (0.7, 0.99), "weight_decay": 0.1}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
]
NAMES = sorted({name for name, _ in VARIANTS})


def twins(rng, torch):
    """The same random float64 starting values as xpnet Parameters and torch leaf tensors."""
    arrays = [rng.standard_normal(s) for s in SHAPES]
    return ([Parameter(asarray(a.copy())) for a in arrays],
            [torch.tensor(a.copy(), requires_grad=True) for a in arrays])


def grouped(params, groups):
    """Parameter groups as dicts of index lists and overrides, applied to either framework's params."""
    return [{**g, "params": [params[i] for i in g["params"]]} for g in groups] if groups else params


def train(rng, torch, ours, theirs, opt, topt, steps, scheds=(), skip=None):
    """Feed identical host-drawn gradients to both optimizers (and step paired schedulers)."""
    for t in range(steps):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if skip is not None and skip(t, i):
                p.grad = tp.grad = None
                continue
            g = rng.standard_normal(p.shape)
            p.grad, tp.grad = asarray(g), torch.tensor(g)
        opt.step()
        topt.step()
        for ours_sched, their_sched in scheds:
            ours_sched.step()
            their_sched.step()


def run_pair(rng, torch, name, kwargs, groups=None, steps=30, schedule=None, skip=None):
    ours, theirs = twins(rng, torch)
    opt = getattr(optim, name)(grouped(ours, groups), **kwargs)
    topt = getattr(torch.optim, name)(grouped(theirs, groups), **kwargs)
    scheds = []
    if schedule is not None:
        sched_name, sched_kwargs = schedule
        scheds = [(getattr(optim, sched_name)(opt, **sched_kwargs),
                   getattr(torch.optim.lr_scheduler, sched_name)(topt, **sched_kwargs))]
    train(rng, torch, ours, theirs, opt, topt, steps, scheds, skip)
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        assert_close(p.data, tp, what=f"{name} {kwargs} parameter {i}")
    return opt, topt


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=lambda v: str(v))
def test_matches_torch(rng, torch, name, kwargs):
    run_pair(rng, torch, name, kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_match_torch(rng, torch, name):
    groups = [{"params": [0, 2]}, {"params": [1], "lr": 0.05, "weight_decay": 0.2}]
    run_pair(rng, torch, name, {}, groups=groups)


def test_params_without_grad_are_skipped(rng, torch):
    """A parameter with no gradient keeps its value and its step count (bias correction per parameter)."""
    opt, _ = run_pair(rng, torch, "Adam", {"lr": 0.1}, steps=12, skip=lambda t, i: i == 1 and t % 3 != 0)
    counts = [opt.state[p]["step"] for p in opt.param_groups[0]["params"]]
    assert counts == [12, 4, 12] and all(type(c) is int for c in counts)


def test_named_parameters_as_in_torch(rng, torch):
    """(name, Parameter) pairs, as `named_parameters()` gives, are accepted; the names go to "param_names"."""
    ours, theirs = twins(rng, torch)
    names = ["a", "b", "c"]
    opt = optim.Adam([{"params": list(zip(names[:2], ours[:2])), "lr": 0.02}, {"params": [("c", ours[2])]}])
    topt = torch.optim.Adam([{"params": list(zip(names[:2], theirs[:2])), "lr": 0.02},
                             {"params": [("c", theirs[2])]}])
    train(rng, torch, ours, theirs, opt, topt, 5)
    for p, tp in zip(ours, theirs):
        assert_close(p.data, tp)
    assert [g["param_names"] for g in opt.state_dict()["param_groups"]] == \
        [g["param_names"] for g in topt.state_dict()["param_groups"]] == [["a", "b"], ["c"]]
    with pytest.raises(TypeError, match="mixes \\(name, Parameter\\) pairs"):
        optim.SGD([("a", ours[0]), ours[1]])


@pytest.mark.parametrize("name,kwargs", [("Adam", {"amsgrad": True}), ("SGD", {"momentum": 0.9}), ("RAdam", {})])
def test_resumes_from_torch_state_dict(rng, torch, name, kwargs):
    """A torch optimizer's state_dict (tensors, 'step' a 0-d tensor) loads and continues as torch would."""
    ours, theirs = twins(rng, torch)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(4):  # torch alone first
        for tp in theirs:
            tp.grad = torch.tensor(rng.standard_normal(tuple(tp.shape)))
        topt.step()
    for p, tp in zip(ours, theirs):
        p.data = asarray(tp.detach().numpy().copy())
    opt.load_state_dict(topt.state_dict())
    train(rng, torch, ours, theirs, opt, topt, 6)
    for p, tp in zip(ours, theirs):
        assert_close(p.data, tp, what=f"{name} resumed from torch's state")


@pytest.mark.parametrize("name,kwargs,schedule", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, ("StepLR", {"step_size": 7, "gamma": 0.5})),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, ("OneCycleLR", {"max_lr": 0.5, "total_steps": 30})),
    ("Adam", {}, ("OneCycleLR", {"max_lr": 0.05, "total_steps": 40, "three_phase": True})),
    ("RMSprop", {"momentum": 0.5}, ("CosineAnnealingLR", {"T_max": 9, "eta_min": 1e-3})),
    ("AdamW", {"lr": 0.02}, ("LinearLR", {"start_factor": 0.1, "total_iters": 12})),
])
def test_with_schedule_matches_torch(rng, torch, name, kwargs, schedule):
    opt, topt = run_pair(rng, torch, name, kwargs, schedule=schedule)
    for ours, theirs in zip(opt.param_groups, topt.param_groups):
        assert ours["lr"] == pytest.approx(theirs["lr"], rel=1e-13)


@pytest.mark.parametrize("name,kwargs", [("SGD", {"momentum": 0.9, "nesterov": True}),
                                         ("Adagrad", {"lr_decay": 0.1}),
                                         ("RMSprop", {"momentum": 0.9, "centered": True}),
                                         ("Adam", {"amsgrad": True}), ("AdamW", {}), ("RAdam", {})])
def test_state_dict_round_trip(rng, name, kwargs):
    """Save after 10 steps, load into a fresh optimizer, continue 10 steps == 20 uninterrupted steps."""
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(20)]
    groups = lambda ps: [{"params": ps[:2], "lr": 0.03}, {"params": ps[2:]}]  # noqa: E731

    def run(opt, params, steps):
        for step_grads in steps:
            for p, g in zip(params, step_grads):
                p.grad = asarray(g)
            opt.step()

    straight = [Parameter(asarray(a.copy())) for a in start]
    opt = getattr(optim, name)(groups(straight), **kwargs)
    run(opt, straight, grads[:10])
    saved = opt.state_dict()
    resumed = [Parameter(asarray(to_numpy(p.data).copy())) for p in straight]
    run(opt, straight, grads[10:])

    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    arrays = [v for entry in saved["state"].values() for v in entry.values() if hasattr(v, "shape")]
    assert arrays and all(type(a) is np.ndarray for a in arrays)
    fresh = getattr(optim, name)(groups(resumed), lr=0.5, **kwargs)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.03
    run(fresh, resumed, grads[10:])
    for p, q in zip(straight, resumed):
        assert_close(q.data, p.data, rtol=0, atol=0, what=f"{name} resumed")


def test_load_state_dict_rejects_mismatch(rng):
    params = [Parameter(asarray(rng.standard_normal(s))) for s in SHAPES]
    opt = optim.Adam(params)
    for p in params:
        p.grad = asarray(rng.standard_normal(p.shape))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": params[:1]}, {"params": params[1:]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="has 2 parameters"):
        optim.Adam(params[:2]).load_state_dict(saved)
    swapped = [Parameter(asarray(rng.standard_normal(s))) for s in reversed(SHAPES)]
    with pytest.raises(ValueError, match="shape"):
        optim.Adam(swapped).load_state_dict(saved)


def test_state_dict_is_a_snapshot(rng):
    p = Parameter(asarray(rng.standard_normal((4,))))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = asarray(np.ones(4))
    opt.step()
    saved = opt.state_dict()
    before = saved["state"][0]["momentum_buffer"].copy()
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["momentum_buffer"], before)


@pytest.mark.parametrize("name,kwargs", [("SGD", {"momentum": 0.9, "weight_decay": 0.1, "nesterov": True}),
                                         ("Adagrad", {"weight_decay": 0.1, "lr_decay": 0.1}),
                                         ("RMSprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.1}),
                                         ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
                                         ("AdamW", {"maximize": True}), ("RAdam", {"weight_decay": 0.1})])
def test_float32_stays_float32(rng, name, kwargs):
    params = [Parameter(asarray(rng.standard_normal(s).astype(np.float32))) for s in SHAPES]
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(8):  # past RAdam's rectification threshold
        for p in params:
            p.grad = asarray(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()
    for p in params:
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))


def test_zero_grad_sets_none(rng):
    params = [Parameter(asarray(rng.standard_normal(s))) for s in SHAPES]
    for p in params:
        p.grad = asarray(np.ones(p.shape))
    optim.SGD(params).zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": -0.1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1.0}),
    ("SGD", {"nesterov": True}), ("SGD", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adagrad", {"lr_decay": -1.0}), ("Adagrad", {"initial_accumulator_value": -1.0}), ("Adagrad", {"eps": -1.0}),
    ("RMSprop", {"alpha": -0.1}), ("RMSprop", {"momentum": -0.1}), ("RMSprop", {"eps": -1.0}),
    ("Adam", {"lr": -1e-3}), ("Adam", {"betas": (1.0, 0.999)}), ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"eps": -1e-8}), ("AdamW", {"weight_decay": -0.1}), ("RAdam", {"betas": (0.9, 1.5)}),
])
def test_invalid_hyper_parameters(name, kwargs):
    with pytest.raises(ValueError, match=name):
        getattr(optim, name)([Parameter(asarray(np.zeros(3)))], **kwargs)


def test_invalid_params():
    p = Parameter(asarray(np.zeros(3)))
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([])
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="invalid lr"):
        optim.Adam([{"params": [p], "lr": -1.0}])
    with pytest.raises(TypeError):
        optim.SGD(p)
    with pytest.raises(TypeError):
        optim.SGD([np.zeros(3)])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(rng, torch, norm_type, max_norm):
    ours, theirs = twins(rng, torch)
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        if i == 1:
            continue  # a parameter without a gradient is ignored
        g = rng.standard_normal(p.shape)
        p.grad, tp.grad = asarray(g), torch.tensor(g)
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.shape == () and backend_of(total) == backend_of(ours[0].data)
    assert_close(total, expected, what="total norm")
    for p, tp in zip(ours, theirs):
        if p.grad is not None:
            assert_close(p.grad, tp.grad, what="clipped gradient")


def test_clip_grad_norm_keeps_float32(rng):
    p = Parameter(asarray(rng.standard_normal((4, 3)).astype(np.float32)))
    p.grad = asarray(10 * rng.standard_normal((4, 3)).astype(np.float32))
    total = optim.clip_grad_norm_(p, 1.0)
    assert total.dtype == np.float32 and p.grad.dtype == np.float32
    assert abs(float(np.linalg.norm(to_numpy(p.grad))) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="norm_type"):
        optim.clip_grad_norm_(p, 1.0, norm_type=0)


@pytest.mark.gpu
def test_state_follows_parameter_to_gpu(rng):
    """Moving a parameter to the GPU mid-training moves its optimizer state at the next step."""
    try:
        move(np.zeros(1), "gpu")
    except RuntimeError as exc:
        pytest.skip(f"no usable GPU: {exc}")
    start, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(3)]
    p, q = Parameter(move(start, "cpu")), Parameter(move(start, "cpu"))
    opt, reference = optim.Adam([p], lr=0.1, amsgrad=True), optim.Adam([q], lr=0.1, amsgrad=True)
    for t, g in enumerate(grads):
        if t == 1:
            p.data = move(p.data, "gpu")
        p.grad, q.grad = move(g, backend_of(p.data)), move(g, "cpu")
        with using(backend_of(p.data)):  # each optimizer steps on its parameters' backend
            opt.step()
        with using("cpu"):
            reference.step()
    assert all(backend_of(v) == "gpu" for v in opt.state[p].values() if hasattr(v, "shape"))
    assert_close(p.data, q.data, what="parameter after moving to the GPU")
