"""No parity case may become looser than the frozen table below: every float32 tolerance stays as strict as it is.

Cases are matched by their labels without the component's arguments and the
dtype ("Conv2D train x(2, 3, 7, 7)"), so relabelling a case changes nothing;
cases that share such a key are compared strictest with strictest. A new or
reshaped case needs its row here, which makes any loosening a visible edit.
"""
from collections import defaultdict

from xpnet.parity import catalogue, tolerance

FROZEN = [  # (key, k, depth): the longest sum and the chained steps behind each case's float32 rtol
    ('Conv2D train x(2, 3, 7, 7)', 50, 1),
    ('Conv2D train x(2, 3, 8, 9)', 40, 1),
    ('Conv2D train x(1, 2, 9, 9)', 81, 1),
    ('Conv2D train x(2, 4, 6, 6)', 72, 1),
    ('Conv2D train x(2, 4, 5, 5)', 50, 1),
    ('Conv2D train x(1, 3, 6, 5)', 18, 1),
    ('Conv2D train x(3, 1, 5, 5)', 75, 1),
    ('ConvTranspose2D train x(2, 3, 4, 4)', 72, 1),
    ('ConvTranspose2D train x(2, 4, 3, 5)', 120, 1),
    ('ConvTranspose2D train x(1, 4, 4, 4)', 64, 1),
    ('MaxPool2D train x(2, 3, 8, 8)', 1, 1),
    ('AvgPool2D train x(2, 3, 8, 8)', 4, 1),
    ('MaxPool2D train x(2, 2, 7, 9)', 1, 1),
    ('AvgPool2D train x(2, 2, 7, 9)', 9, 1),
    ('MaxPool2D train x(1, 1, 5, 5)', 1, 1),
    ('AvgPool2D train x(1, 1, 5, 5)', 9, 1),
    ('MaxPool2D train x(1, 2, 7, 7)', 1, 1),
    ('AvgPool2D train x(1, 2, 7, 7)', 4, 1),
    ('GlobalAvgPool2D train x(2, 3, 5, 7)', 35, 1),
    ('GlobalAvgPool2D train x(1, 4, 1, 1)', 1, 1),
    ('Dense train x(4, 7)', 7, 1),
    ('Dense train x(1, 33)', 33, 1),
    ('Dense train x(16, 64)', 64, 1),
    ('Flatten train x(2, 3, 4, 5)', 1, 1),
    ('Identity train x(2, 3, 4)', 1, 1),
    ('Dropout train x(8, 16)', 1, 1),
    ('Dropout train x(1, 3, 4, 4)', 1, 1),
    ('Dropout eval x(8, 16)', 1, 1),
    ('BatchNorm1D train x(8, 6)', 8, 1),
    ('BatchNorm2D train x(4, 3, 5, 5)', 100, 1),
    ('BatchNorm1D eval x(8, 6)', 8, 1),
    ('BatchNorm2D eval x(4, 3, 5, 5)', 100, 1),
    ('BatchNorm2D train x(2, 2, 3, 3)', 18, 1),
    ('BatchNorm1D train x(5, 4)', 5, 1),
    ('LayerNorm train x(6, 10)', 10, 1),
    ('LayerNorm train x(2, 3, 4, 4)', 48, 1),
    ('LayerNorm eval x(1, 5)', 5, 1),
    ('GroupNorm train x(2, 4, 3, 3)', 18, 1),
    ('GroupNorm train x(2, 3, 4, 4)', 48, 1),
    ('ReLU train x(3, 4, 5)', 1, 1),
    ('LeakyReLU train x(3, 4, 5)', 1, 1),
    ('ELU train x(3, 4, 5)', 1, 1),
    ('ELU train x(3, 4, 5)', 1, 1),
    ('GELU train x(3, 4, 5)', 1, 1),
    ('GELU train x(3, 4, 5)', 1, 1),
    ('Sigmoid train x(3, 4, 5)', 1, 1),
    ('Tanh train x(3, 4, 5)', 1, 1),
    ('Softplus train x(3, 4, 5)', 1, 1),
    ('Softplus train x(3, 4, 5)', 1, 1),
    ('PReLU train x(4, 3, 2, 2)', 48, 1),
    ('PReLU train x(4, 3, 2, 2)', 16, 1),
    ('Softmax train x(4, 10)', 10, 1),
    ('Softmax train x(2, 3, 7)', 7, 1),
    ('LogSoftmax train x(4, 10)', 10, 1),
    ('LogSoftmax train x(1, 3)', 3, 1),
    ('Residual train x(2, 3, 5, 5)', 50, 1),
    ('Residual train x(3, 6)', 6, 1),
    ('SoftmaxCrossEntropy x(8, 5)', 8, 1),
    ('SoftmaxCrossEntropy x(1, 3)', 3, 1),
    ('SoftmaxCrossEntropy x(6, 4)', 6, 1),
    ('SoftmaxCrossEntropy x(6, 4)', 4, 1),
    ('SoftmaxCrossEntropy x(5, 7)', 7, 1),
    ('SoftmaxCrossEntropy x(6, 4)', 6, 1),
    ('BCEWithLogits x(6, 3)', 18, 1),
    ('BCEWithLogits x(2, 5)', 10, 1),
    ('MSE x(4, 6)', 24, 1),
    ('MSE x(3, 2, 2)', 1, 1),
    ('L1 x(4, 6)', 24, 1),
    ('Huber x(5, 5)', 25, 1),
    ('Huber x(1, 7)', 7, 1),
    ('MultiMargin x(6, 5)', 6, 1),
    ('MultiMargin x(4, 3)', 4, 1),
    ('SGD', 1, 30),
    ('SGD', 1, 30),
    ('SGD', 1, 30),
    ('Adagrad', 1, 30),
    ('Adagrad', 1, 30),
    ('RMSprop', 1, 30),
    ('RMSprop', 1, 30),
    ('Adam', 1, 30),
    ('Adam', 1, 30),
    ('AdamW', 1, 30),
    ('RAdam', 1, 30),
    ('RAdam', 1, 30),
    ('SGD + StepLR(step_size=10, gamma=0.5)', 1, 30),
    ('Adam + StepLR(step_size=10, gamma=0.5)', 1, 30),
    ('lenet5 train x(2, 1, 28, 28)', 1568, 1),
    ('lenet5 eval x(1, 1, 28, 28)', 784, 1),
    ('fused_conv_bn eval x(3, 2, 6, 6)', 144, 1),
    ('mlp train x(4, 1, 8, 8)', 64, 1),
    ('fc_net train x(8, 1, 8, 8)', 64, 1),
    ('fc_net eval x(3, 1, 8, 8)', 64, 1),
    ('lenet5 20 training steps x(4, 1, 28, 28)', 3136, 20),
    ('fc_net 20 training steps x(8, 1, 8, 8)', 64, 20),
]


def key(label):
    """`label` without the arguments of its first call and without the dtype."""
    start = label.find("(")
    depth, end = 0, start
    for end in range(start, len(label)):
        depth += {"(": 1, ")": -1}.get(label[end], 0)
        if depth == 0:
            break
    return label[:start] + label[end + 1:label.rindex(" [")]


def _rtols(entries):
    """{key: sorted float32 rtols} of (key, k, depth) entries."""
    out = defaultdict(list)
    for name, k, depth in entries:
        out[name].append(tolerance("float32", k, depth))
    return {name: sorted(rtols) for name, rtols in out.items()}


def looser(cases, frozen=FROZEN):
    """Problems with `cases` against `frozen`: keys on one side only, other counts, and any looser rtol."""
    now = _rtols((key(c.label), c.k, c.depth) for c in cases)
    then = _rtols(frozen)
    problems = [f"{name}: not in the table" for name in now.keys() - then.keys()]
    problems += [f"{name}: no such case any more" for name in then.keys() - now.keys()]
    for name in now.keys() & then.keys():
        if len(now[name]) != len(then[name]):
            problems.append(f"{name}: {len(now[name])} cases, the table has {len(then[name])}")
        problems += [f"{name}: rtol {a:.3g} > {b:.3g}" for a, b in zip(now[name], then[name]) if a > b * (1 + 1e-12)]
    return problems


def test_key_drops_the_arguments_and_the_dtype():
    assert key("Residual(Sequential(Dense(6, 6), Tanh())) train x(3, 6) [float32]") == "Residual train x(3, 6)"
    assert key("SGD(lr=0.05) [float64]") == "SGD"


def test_no_case_is_looser_than_the_table():
    assert looser(catalogue(("float32",))) == []


def test_a_looser_case_is_caught():
    cases = catalogue(("float32",))
    frozen = [(name, k // 2 if name.startswith("Conv2D") else k, depth) for name, k, depth in FROZEN]
    assert len(looser(cases, frozen)) == 7
    assert looser(cases[1:], FROZEN) == ["Conv2D train x(2, 3, 7, 7): no such case any more"]
