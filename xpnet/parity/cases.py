"""The catalogue of parity cases: every layer, loss, optimizer and built-in model, in several configurations.

One case a line: the component and its arguments, then the input shape `x` and
how to run it (case.py says what each kind does). A case's label and the
longest sum behind its float32 tolerance are worked out from the component and
the shapes (case.probe, reduction.py).
"""
from dataclasses import replace

from .. import layers as L
from ..backend import asarray, get_default_dtype, rng
from .. import losses, optim
from ..models import fc_net, lenet5, mlp
from .case import layer, loss, optimizer, training
from .inputs import distinct, labels, normal, probabilities
from .part import part

DTYPES = ("float64", "float32")


def layer_cases():
    conv = part(L.Conv2D, 3, 3, 3, padding=1)
    return [
        layer(L.Conv2D, 3, 4, 3, x=(2, 3, 7, 7)),
        layer(L.Conv2D, 3, 4, 3, stride=2, padding=1, x=(2, 3, 8, 9)),
        layer(L.Conv2D, 2, 3, 3, padding=2, dilation=2, bias=False, x=(1, 2, 9, 9)),
        layer(L.Conv2D, 4, 6, 3, padding=1, groups=2, x=(2, 4, 6, 6)),
        layer(L.Conv2D, 4, 4, 3, padding=1, groups=4, x=(2, 4, 5, 5)),
        layer(L.Conv2D, 3, 2, (3, 2), stride=(2, 1), padding=(1, 0), x=(1, 3, 6, 5)),
        layer(L.Conv2D, 1, 2, 1, x=(3, 1, 5, 5)),
        layer(L.ConvTranspose2D, 3, 4, 3, x=(2, 3, 4, 4)),
        layer(L.ConvTranspose2D, 4, 2, 3, stride=2, padding=1, output_padding=1, x=(2, 4, 3, 5)),
        layer(L.ConvTranspose2D, 4, 6, 2, stride=2, groups=2, x=(1, 4, 4, 4)),
        layer(L.MaxPool2D, 2, x=(2, 3, 8, 8), inputs=distinct),
        layer(L.AvgPool2D, 2, x=(2, 3, 8, 8)),
        layer(L.MaxPool2D, 3, stride=2, padding=1, x=(2, 2, 7, 9), inputs=distinct),
        layer(L.AvgPool2D, 3, stride=2, padding=1, x=(2, 2, 7, 9)),
        layer(L.MaxPool2D, 3, stride=1, x=(1, 1, 5, 5), inputs=distinct),
        layer(L.AvgPool2D, 3, stride=1, x=(1, 1, 5, 5)),
        layer(L.MaxPool2D, 2, stride=2, x=(1, 2, 7, 7), inputs=distinct),
        layer(L.AvgPool2D, 2, stride=2, x=(1, 2, 7, 7)),
        layer(L.GlobalAvgPool2D, x=(2, 3, 5, 7)),
        layer(L.GlobalAvgPool2D, x=(1, 4, 1, 1)),
        layer(L.Dense, 7, 5, x=(4, 7)),
        layer(L.Dense, 33, 17, bias=False, x=(1, 33)),
        layer(L.Dense, 64, 10, x=(16, 64)),
        layer(L.Flatten, x=(2, 3, 4, 5)),
        layer(L.Identity, x=(2, 3, 4)),
        layer(L.Dropout, 0.5, x=(8, 16)),
        layer(L.Dropout, 0.2, x=(1, 3, 4, 4)),
        layer(L.Dropout, 0.5, x=(8, 16), train=False),
        layer(L.BatchNorm1D, 6, x=(8, 6), warmup=2),
        layer(L.BatchNorm2D, 3, x=(4, 3, 5, 5), warmup=2),
        layer(L.BatchNorm1D, 6, x=(8, 6), warmup=2, train=False),
        layer(L.BatchNorm2D, 3, x=(4, 3, 5, 5), warmup=2, train=False),
        layer(L.BatchNorm2D, 2, momentum=None, x=(2, 2, 3, 3), warmup=1),
        layer(L.BatchNorm1D, 4, affine=False, x=(5, 4)),
        layer(L.LayerNorm, 10, x=(6, 10)),
        layer(L.LayerNorm, (3, 4, 4), x=(2, 3, 4, 4)),
        layer(L.LayerNorm, 5, x=(1, 5), train=False),
        layer(L.GroupNorm, 2, 4, x=(2, 4, 3, 3)),
        layer(L.GroupNorm, 1, 3, affine=False, x=(2, 3, 4, 4)),
        layer(L.ReLU, x=(3, 4, 5), inputs=distinct),
        layer(L.LeakyReLU, 0.1, x=(3, 4, 5), inputs=distinct),
        layer(L.ELU, x=(3, 4, 5), inputs=distinct),
        layer(L.ELU, 0.5, x=(3, 4, 5), inputs=distinct),
        layer(L.GELU, x=(3, 4, 5), inputs=distinct),
        layer(L.GELU, approximate="tanh", x=(3, 4, 5), inputs=distinct),
        layer(L.Sigmoid, x=(3, 4, 5), inputs=distinct),
        layer(L.Tanh, x=(3, 4, 5), inputs=distinct),
        layer(L.Softplus, x=(3, 4, 5), inputs=distinct),
        layer(L.Softplus, beta=2, threshold=1, x=(3, 4, 5), inputs=distinct),
        layer(L.PReLU, x=(4, 3, 2, 2), inputs=distinct),
        layer(L.PReLU, 3, x=(4, 3, 2, 2), inputs=distinct),
        layer(L.Softmax, 1, x=(4, 10)),
        layer(L.Softmax, -1, x=(2, 3, 7)),
        layer(L.LogSoftmax, 1, x=(4, 10)),
        layer(L.LogSoftmax, 1, x=(1, 3)),
        layer(L.Residual, part(L.Sequential, conv, part(L.BatchNorm2D, 3), part(L.ReLU), conv), x=(2, 3, 5, 5)),
        layer(L.Residual, part(L.Sequential, part(L.Dense, 6, 6), part(L.Tanh)), x=(3, 6)),
    ]


def loss_cases():
    ce = losses.SoftmaxCrossEntropy
    return [
        loss(ce, x=(8, 5), target=labels),
        loss(ce, x=(1, 3), target=labels),
        loss(ce, reduction="sum", x=(6, 4), target=labels),
        loss(ce, reduction="none", x=(6, 4), target=labels),
        loss(ce, label_smoothing=0.1, x=(5, 7), target=labels),
        loss(ce, weight=(0.5, 1.0, 1.5, 2.0), x=(6, 4), target=labels),
        loss(losses.BCEWithLogits, x=(6, 3), target=probabilities),
        loss(losses.BCEWithLogits, reduction="sum", x=(2, 5), target=probabilities),
        loss(losses.MSE, x=(4, 6), target=normal),
        loss(losses.MSE, reduction="none", x=(3, 2, 2), target=normal),
        loss(losses.L1, x=(4, 6), target=normal),
        loss(losses.Huber, x=(5, 5), target=normal),
        loss(losses.Huber, delta=0.5, x=(1, 7), target=normal),
        loss(losses.MultiMargin, x=(6, 5), target=labels),
        loss(losses.MultiMargin, p=2, margin=0.5, x=(4, 3), target=labels),
    ]


def optimizer_cases():
    step_lr = part(optim.StepLR, step_size=10, gamma=0.5)
    return [
        optimizer(optim.SGD, lr=0.05),
        optimizer(optim.SGD, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        optimizer(optim.SGD, lr=0.05, momentum=0.9, nesterov=True),
        optimizer(optim.Adagrad, lr=0.1),
        optimizer(optim.Adagrad, lr=0.1, lr_decay=0.01, weight_decay=0.01),
        optimizer(optim.RMSprop, lr=0.01),
        optimizer(optim.RMSprop, lr=0.01, momentum=0.9, centered=True),
        optimizer(optim.Adam, lr=0.01),
        optimizer(optim.Adam, lr=0.01, amsgrad=True, weight_decay=0.01),
        optimizer(optim.AdamW, lr=0.01, weight_decay=0.1),
        optimizer(optim.RAdam, lr=0.01),
        optimizer(optim.RAdam, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
        optimizer(optim.SGD, lr=0.05, momentum=0.9, schedule=step_lr),
        optimizer(optim.Adam, lr=0.01, schedule=step_lr),
    ]


def fused_conv_bn(channels=4, size=6, hidden=5):
    """conv - batch norm - ReLU - flatten - dense - batch norm, after two training passes that move the running
    statistics, folded by layers.fuse: the fused layers' weights are computed on each backend."""
    model = L.Sequential(L.Conv2D(2, channels, 3, padding=1), L.BatchNorm2D(channels), L.ReLU(), L.Flatten(),
                         L.Dense(channels * size * size, hidden), L.BatchNorm1D(hidden))
    for _ in range(2):
        model(asarray(rng().standard_normal((4, 2, size, size)), get_default_dtype()))
    return L.fuse(model)


def model_cases():
    return [
        layer(fused_conv_bn, x=(3, 2, 6, 6), train=False),
        layer(lenet5, x=(2, 1, 28, 28)),
        layer(lenet5, x=(1, 1, 28, 28), train=False),
        layer(mlp, hidden=(32, 16), in_features=64, x=(4, 1, 8, 8)),
        layer(fc_net, (32, 16), norm="batch", dropout=0.5, in_features=64, x=(8, 1, 8, 8)),
        layer(fc_net, (32, 16), norm="batch", dropout=0.5, in_features=64, x=(3, 1, 8, 8), train=False, warmup=2),
        training(lenet5, x=(4, 1, 28, 28)),
        training(fc_net, (32, 16), norm="batch", dropout=0.5, in_features=64, x=(8, 1, 8, 8)),
    ]


def catalogue(dtypes=DTYPES):
    """Every case, once per dtype in `dtypes`."""
    base = layer_cases() + loss_cases() + optimizer_cases() + model_cases()
    return [replace(case, dtype=dt) for dt in dtypes for case in base]
