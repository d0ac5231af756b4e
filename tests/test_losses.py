"""Losses: gradients checked numerically, values and gradients against PyTorch, stability, dtypes, errors."""
import numpy as np
import pytest
from util import assert_close

import xpnet
from xpnet import losses
from xpnet.backend import asarray, to_numpy, xp

N, C = 6, 5
REDUCTIONS = ("mean", "sum", "none")


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _classes(rng):
    return rng.integers(0, C, N)


def _probs(rng):
    return _softmax(rng.standard_normal((N, C)))


def _reals(rng):
    return rng.standard_normal((N, C))


def _unit(rng):
    return rng.random((N, C))


WEIGHT = np.linspace(0.5, 2.0, C)

# id: (our loss from reduction, torch loss from (torch, reduction), target maker)
CASES = {
    "ce": (lambda r: losses.SoftmaxCrossEntropy(reduction=r),
           lambda t, r: t.nn.CrossEntropyLoss(reduction=r), _classes),
    "ce_smoothing": (lambda r: losses.SoftmaxCrossEntropy(reduction=r, label_smoothing=0.2),
                     lambda t, r: t.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2), _classes),
    "ce_probs": (lambda r: losses.SoftmaxCrossEntropy(reduction=r),
                 lambda t, r: t.nn.CrossEntropyLoss(reduction=r), _probs),
    "ce_probs_smoothing_weight": (
        lambda r: losses.SoftmaxCrossEntropy(WEIGHT, reduction=r, label_smoothing=0.3),
        lambda t, r: t.nn.CrossEntropyLoss(t.tensor(WEIGHT), reduction=r, label_smoothing=0.3), _probs),
    "ce_weight_ignore": (
        lambda r: losses.SoftmaxCrossEntropy(WEIGHT, ignore_index=1, reduction=r),
        lambda t, r: t.nn.CrossEntropyLoss(t.tensor(WEIGHT), ignore_index=1, reduction=r),
        lambda rng: np.array([0, 1, 2, 3, 4, 1])),
    "ce_weight_ignore_smoothing": (
        lambda r: losses.SoftmaxCrossEntropy(WEIGHT, ignore_index=1, reduction=r, label_smoothing=0.1),
        lambda t, r: t.nn.CrossEntropyLoss(t.tensor(WEIGHT), ignore_index=1, reduction=r, label_smoothing=0.1),
        lambda rng: np.array([0, 1, 2, 3, 4, 1])),
    "bce": (lambda r: losses.BCEWithLogits(reduction=r),
            lambda t, r: t.nn.BCEWithLogitsLoss(reduction=r), _unit),
    "bce_weights": (lambda r: losses.BCEWithLogits(WEIGHT, reduction=r, pos_weight=WEIGHT[::-1].copy()),
                    lambda t, r: t.nn.BCEWithLogitsLoss(t.tensor(WEIGHT), reduction=r,
                                                        pos_weight=t.tensor(WEIGHT[::-1].copy())), _unit),
    "mse": (lambda r: losses.MSE(reduction=r), lambda t, r: t.nn.MSELoss(reduction=r), _reals),
    "l1": (lambda r: losses.L1(reduction=r), lambda t, r: t.nn.L1Loss(reduction=r), _reals),
    "huber": (lambda r: losses.Huber(reduction=r, delta=0.7),
              lambda t, r: t.nn.HuberLoss(reduction=r, delta=0.7), _reals),
    "margin": (lambda r: losses.MultiMargin(reduction=r),
               lambda t, r: t.nn.MultiMarginLoss(reduction=r), _classes),
    "margin_p2_weight": (lambda r: losses.MultiMargin(2, 0.5, WEIGHT, reduction=r),
                         lambda t, r: t.nn.MultiMarginLoss(2, 0.5, t.tensor(WEIGHT), reduction=r), _classes),
}


def _inputs(case, rng, scale=1.0):
    return scale * rng.standard_normal((N, C)), CASES[case][2](rng)


def _torch_value_and_grad(torch, case, reduction, pred, target, dy):
    pt = torch.tensor(pred, requires_grad=True)
    out = CASES[case][1](torch, reduction)(pt, torch.tensor(target))
    out.backward(torch.tensor(dy))
    return out, pt.grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES)
def test_gradcheck(case, reduction, rng):
    pred, target = _inputs(case, rng)
    assert xpnet.gradcheck(CASES[case][0](reduction), pred, target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES)
def test_matches_torch(case, reduction, rng, torch):
    pred, target = _inputs(case, rng)
    loss = CASES[case][0](reduction)
    out = loss(asarray(pred, np.float64), target)
    dy = rng.standard_normal(out.shape)
    t_out, t_grad = _torch_value_and_grad(torch, case, reduction, pred, target, dy)
    assert_close(out, t_out, what=f"{case} loss")
    assert_close(loss.backward(asarray(dy, np.float64)), t_grad, what=f"{case} gradient")


@pytest.mark.parametrize("case", CASES)
def test_default_upstream_is_one(case, rng):
    pred, target = _inputs(case, rng)
    loss = CASES[case][0]("sum")
    loss(asarray(pred, np.float64), target)
    assert_close(loss.backward(), loss.backward(1.0))
    loss_none = CASES[case][0]("none")
    out = loss_none(asarray(pred, np.float64), target)
    assert_close(loss_none.backward(), loss.backward(1.0))
    assert out.shape == ((N,) if case.startswith(("ce", "margin")) else (N, C))


def test_l1_gradient_is_zero_where_prediction_equals_target(torch):
    pred = np.array([[1.0, -2.0, 3.0]])
    target = np.array([[1.0, 0.0, 3.0]])
    loss = losses.L1(reduction="sum")
    loss(asarray(pred), target)
    assert_close(loss.backward(), [[0.0, -1.0, 0.0]])
    _, t_grad = _torch_value_and_grad(torch, "l1", "sum", pred, target, np.array(1.0))
    assert_close(loss.backward(), t_grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["ce", "ce_smoothing", "ce_probs", "bce", "bce_weights", "margin", "huber"])
def test_extreme_logits_stay_finite(case, dtype, rng, torch):
    pred, target = _inputs(case, rng)
    pred = np.where(pred > 0, 1e4, -1e4)
    loss = CASES[case][0]("mean")
    out = loss(asarray(pred, dtype), target)
    grad = loss.backward()
    assert np.isfinite(to_numpy(out)) and np.isfinite(to_numpy(grad)).all()
    if dtype == np.float64:
        t_out, t_grad = _torch_value_and_grad(torch, case, "mean", pred, target, np.array(1.0))
        assert_close(out, t_out, what=f"{case} loss at +-1e4")
        assert_close(grad, t_grad, what=f"{case} gradient at +-1e4")


@pytest.mark.parametrize("case", CASES)
def test_float32_stays_float32_and_output_is_backend_0d_array(case, rng):
    pred, target = _inputs(case, rng)
    loss = CASES[case][0]("mean")
    out = loss(asarray(pred, np.float32), target)
    assert isinstance(out, type(xp.zeros(0))) and out.shape == () and out.dtype == np.float32
    grad = loss.backward(asarray(2.0, np.float64))  # a float64 upstream must not promote the gradient
    assert isinstance(grad, type(xp.zeros(0))) and grad.dtype == np.float32 and grad.shape == pred.shape


def test_pytorch_names_are_aliases():
    assert losses.CrossEntropyLoss is losses.SoftmaxCrossEntropy
    assert losses.BCEWithLogitsLoss is losses.BCEWithLogits
    assert losses.MSELoss is losses.MSE and losses.L1Loss is losses.L1 and losses.HuberLoss is losses.Huber
    assert losses.MultiMarginLoss is losses.MultiMargin


_x = np.zeros((N, C), np.float32)
_CE = losses.SoftmaxCrossEntropy
BAD_INPUTS = [  # (loss, pred, target, regex the message must match)
    (_CE(), _x, np.zeros(N + 1, int), r"SoftmaxCrossEntropy.*expected.*\(6,\).*got shape \(7,\)"),
    (_CE(), _x, np.zeros(N, np.float32), r"SoftmaxCrossEntropy.*expected.*integer.*got.*float32"),
    (_CE(), _x, np.zeros((N, C), int), r"SoftmaxCrossEntropy.*expected.*floating.*got.*int"),
    (_CE(), _x, np.full(N, C), r"SoftmaxCrossEntropy.*expected.*\[0, 4\].*got.*5"),
    (_CE(), _x, np.full(N, -1), r"SoftmaxCrossEntropy.*expected.*\[0, 4\].*got.*-1"),
    (_CE(), np.zeros((N, C, 2)), np.zeros(N, int), r"SoftmaxCrossEntropy.*\(N, C\).*got"),
    (_CE(), np.zeros((N, C), int), np.zeros(N, int), r"SoftmaxCrossEntropy.*floating.*got"),
    (_CE(np.ones(C + 1)), _x, np.zeros(N, int), r"SoftmaxCrossEntropy.*weight.*\(5,\).*\(6,\)"),
    (losses.MultiMargin(), _x, np.full(N, C), r"MultiMargin.*expected.*\[0, 4\].*got"),
    (losses.MultiMargin(), _x, np.zeros((N, 1), int), r"MultiMargin.*expected.*\(6,\).*got shape \(6, 1\)"),
    (losses.BCEWithLogits(), _x, np.zeros((N, C + 1)), r"BCEWithLogits.*expected.*\(6, 5\).*got shape \(6, 6\)"),
    (losses.BCEWithLogits(), _x, np.full((N, C), "a"), r"BCEWithLogits.*expected.*real.*got.*<U1"),
    (losses.BCEWithLogits(pos_weight=np.ones(C + 1)), _x, _x, r"BCEWithLogits.*pos_weight.*\(6, 5\).*\(6,\)"),
    (losses.MSE(), _x, np.zeros(N), r"MSE.*expected.*\(6, 5\).*got shape \(6,\)"),
    (losses.L1(), _x, np.zeros((C, N)), r"L1.*expected.*\(6, 5\).*got shape \(5, 6\)"),
    (losses.Huber(), _x, np.zeros((N, C), complex), r"Huber.*expected.*real.*got.*complex"),
]


@pytest.mark.parametrize("loss, pred, target, message", BAD_INPUTS)
def test_bad_input_raises_value_error(loss, pred, target, message):
    with pytest.raises(ValueError, match=message):
        loss(asarray(pred), target)


def test_ignored_class_is_not_range_checked_and_not_counted():
    loss = losses.SoftmaxCrossEntropy()  # ignore_index=-100 as in PyTorch
    x = asarray(np.random.default_rng(0).standard_normal((3, C)))
    full = losses.SoftmaxCrossEntropy(reduction="none")(x, np.array([1, 2, 0]))
    assert_close(loss(x, np.array([1, -100, 0])), (full[0] + full[2]) / 2, rtol=1e-6)
    assert_close(loss.backward()[1], np.zeros(C))


def test_device_targets_out_of_range_give_nan_not_wrong_numbers(monkeypatch):
    """Targets already on the GPU are not range-checked (that would sync); bad rows must turn NaN."""
    import xpnet.losses.base as base
    monkeypatch.setattr(base, "backend_of", lambda a: "gpu")
    for loss in (losses.SoftmaxCrossEntropy(reduction="none", label_smoothing=0.1),
                 losses.MultiMargin(reduction="none")):
        out = loss(asarray(np.ones((3, C))), np.array([0, C, 1]))
        grad = to_numpy(loss.backward())
        assert np.isnan(to_numpy(out)).tolist() == [False, True, False]
        assert np.isnan(grad[1]).all() and np.isfinite(grad[[0, 2]]).all()


@pytest.mark.parametrize("make", [lambda: losses.MSE(reduction="avg"), lambda: losses.Huber(delta=0.0),
                                  lambda: losses.MultiMargin(p=3),
                                  lambda: losses.SoftmaxCrossEntropy(label_smoothing=1.5)])
def test_bad_settings_raise_value_error(make):
    with pytest.raises(ValueError, match=r"(MSE|Huber|MultiMargin|SoftmaxCrossEntropy).*got"):
        make()


def test_backward_checks_upstream_shape_and_order():
    loss = losses.MSE()
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()
    loss(asarray(np.zeros((2, 3))), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"MSE.backward.*expected.*\(\).*got \(2, 3\)"):
        loss.backward(np.ones((2, 3)))
