"""Learning-rate schedulers against torch.optim.lr_scheduler, value for value."""
import numpy as np
import pytest

from xpnet import Parameter, optim
from xpnet.backend import asarray

# torch warns when a scheduler steps without optimizer.step(); these tests only compare lr sequences.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

STEPS = 50
LRS = (0.1, 0.02)


def pair(torch, optimizer="SGD", **kwargs):
    """Twin optimizers with two parameter groups of different lrs."""
    ours = [Parameter(asarray(np.zeros(2))), Parameter(asarray(np.zeros(3)))]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    make = lambda ps, cls: cls([{"params": [p], "lr": lr} for p, lr in zip(ps, LRS)], **kwargs)  # noqa: E731
    return make(ours, getattr(optim, optimizer)), make(theirs, getattr(torch.optim, optimizer))


def assert_same(opt, topt, what, keys=("lr",)):
    for i, (g, tg) in enumerate(zip(opt.param_groups, topt.param_groups)):
        for key in keys:
            np.testing.assert_allclose(g[key], tg[key], rtol=1e-14, atol=0, err_msg=f"{what}: group {i} {key}")


SCHEDULES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.7}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30]}),
    ("MultiStepLR", {"milestones": [40, 3], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 17, "eta_min": 1e-3}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.05, "end_factor": 0.5, "total_iters": 20}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS + 1}),
    ("OneCycleLR", {"max_lr": [0.5, 0.1], "epochs": 3, "steps_per_epoch": 17, "anneal_strategy": "linear"}),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": STEPS + 10, "pct_start": 0.25, "three_phase": True,
                    "div_factor": 10.0, "final_div_factor": 100.0}),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=lambda v: str(v))
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_schedule_matches_torch(torch, name, kwargs, optimizer):
    opt, topt = pair(torch, optimizer)
    sched = getattr(optim, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    keys = ("lr", "initial_lr") + (("betas" if optimizer == "Adam" else "momentum",) if name == "OneCycleLR" else ())
    assert_same(opt, topt, f"{name} at construction", keys)
    for t in range(STEPS):
        sched.step()
        tsched.step()
        assert_same(opt, topt, f"{name} step {t + 1}", keys)
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 2, "factor": 0.5, "cooldown": 2},
    {"mode": "max", "patience": 1, "threshold": 0.05, "min_lr": [0.01, 0.005]},
    {"threshold_mode": "abs", "threshold": 0.1, "patience": 0, "min_lr": 0.004, "eps": 1e-3},
    {"mode": "max", "threshold_mode": "abs", "patience": 3, "factor": 0.3},
])
def test_reduce_on_plateau_matches_torch(torch, kwargs):
    rng = np.random.default_rng(7)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.05 * rng.standard_normal(40)])
    opt, topt = pair(torch)
    sched = optim.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    for t, m in enumerate(metrics):
        sched.step(float(m))
        tsched.step(float(m))
        assert_same(opt, topt, f"ReduceLROnPlateau step {t + 1}")
        assert sched.get_last_lr() == tsched.get_last_lr()
    assert opt.param_groups[0]["lr"] < LRS[0]  # the schedule did reduce


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=lambda v: str(v))
def test_last_epoch_resumes_like_torch(torch, name, kwargs):
    """A new scheduler made with last_epoch=10 on optimizers 10 epochs into a schedule continues it as torch's."""
    opt, topt = pair(torch, "Adam")
    sched, tsched = getattr(optim, name)(opt, **kwargs), getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(10):
        sched.step()
        tsched.step()
    sched = getattr(optim, name)(opt, **kwargs, last_epoch=10)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs, last_epoch=10)
    keys = ("lr", "betas") if name == "OneCycleLR" else ("lr",)
    for t in range(11, 30):
        assert_same(opt, topt, f"{name} resumed, epoch {t}", keys)
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-14, atol=0)
        sched.step()
        tsched.step()


def test_last_epoch_needs_a_resumed_optimizer():
    opt = optim.SGD([Parameter(asarray(np.zeros(2)))], lr=0.1)
    with pytest.raises(ValueError, match=r"StepLR\(last_epoch=3\) resumes a schedule, but param_groups\[0\] has "
                                         r"no 'initial_lr': load the optimizer's state_dict first"):
        optim.StepLR(opt, 2, last_epoch=3)
    with pytest.raises(ValueError, match="'max_lr', 'min_lr', 'max_momentum', 'base_momentum'"):
        optim.OneCycleLR(optim.SGD([Parameter(asarray(np.zeros(2)))], lr=0.1, momentum=0.9), 0.5, 10,
                         last_epoch=2)
    with pytest.raises(ValueError, match="last_epoch must be an int >= -1, got -2"):
        optim.StepLR(opt, 2, last_epoch=-2)


@pytest.mark.parametrize("name,kwargs", SCHEDULES[::2] + [("ReduceLROnPlateau", {"patience": 1})],
                         ids=lambda v: str(v))
def test_state_dict_round_trip(name, kwargs):
    """Checkpoint after 10 steps, rebuild optimizer and scheduler, load both: the rest of the schedule agrees."""
    def build():
        opt = optim.SGD([{"params": [Parameter(asarray(np.zeros(2)))], "lr": lr} for lr in LRS], momentum=0.9)
        return opt, getattr(optim, name)(opt, **kwargs)

    step = (lambda s, t: s.step(1.0 / (1 + t % 4))) if name == "ReduceLROnPlateau" else (lambda s, t: s.step())
    opt, sched = build()
    for t in range(10):
        step(sched, t)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved_sched
    opt2, sched2 = build()
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for t in range(10, 30):
        step(sched, t)
        step(sched2, t)
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_construction_records_initial_lr():
    opt = optim.SGD([Parameter(asarray(np.zeros(2)))], lr=0.1)
    sched = optim.StepLR(opt, step_size=2)
    assert opt.param_groups[0]["initial_lr"] == 0.1 and sched.base_lrs == [0.1]
    assert sched.get_last_lr() == [0.1] and sched.last_epoch == 0
    opt.param_groups[0]["lr"] = 0.5
    optim.ExponentialLR(opt, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.1  # kept, as in torch


def test_invalid_arguments():
    opt = optim.SGD([Parameter(asarray(np.zeros(2)))], lr=0.1)
    with pytest.raises(TypeError, match="Optimizer"):
        optim.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="start_factor"):
        optim.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="total_steps"):
        optim.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        optim.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="one per parameter group"):
        optim.OneCycleLR(opt, max_lr=[0.1, 0.2], total_steps=10)
    with pytest.raises(ValueError, match="momentum or betas"):
        optim.OneCycleLR(optim.Adagrad([Parameter(asarray(np.zeros(2)))]), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="factor"):
        optim.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        optim.ReduceLROnPlateau(opt, mode="up")
    sched = optim.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()
    with pytest.raises(ValueError, match="unexpected keys"):
        sched.load_state_dict({"bogus": 1})
