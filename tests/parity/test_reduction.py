"""The longest sum behind each float32 tolerance, computed from the component and the shapes, against sums
counted by hand."""
import pytest

import xpnet.layers as L
from xpnet import losses, models
from xpnet.parity.reduction import leaf_shapes, longest_reduction, loss_reduction


@pytest.mark.parametrize("make,shape,k", [
    # conv: the weight gradient sums N*OH*OW = 2*4*5 output positions, more than a window's 4*3*3
    (lambda: L.Conv2D(3, 4, 3, stride=2, padding=1), (2, 3, 8, 9), 40),
    # conv: the input gradient sums out/groups*kh*kw = 8*9, more than 1*3*3 positions
    (lambda: L.Conv2D(8, 16, 3, groups=2), (1, 8, 5, 5), 72),
    # transposed conv: the bias gradient sums its 2*6*10 output positions
    (lambda: L.ConvTranspose2D(4, 2, 3, stride=2, padding=1, output_padding=1), (2, 4, 3, 5), 120),
    (lambda: L.Dense(7, 5), (4, 7), 7),  # x @ W.T sums in_features
    (lambda: L.Dense(3, 9), (2, 3), 9),  # dy @ W sums out_features
    (lambda: L.Dense(3, 9), (20, 3), 20),  # the weight gradient sums the batch
    (lambda: L.BatchNorm2D(3), (4, 3, 5, 5), 100),  # N*H*W per channel
    (lambda: L.BatchNorm1D(2), (4, 2, 7), 28),  # N*L per channel
    (lambda: L.LayerNorm((3, 4, 4)), (2, 3, 4, 4), 48),  # the normalised elements
    (lambda: L.LayerNorm(5), (40, 5), 40),  # the weight gradient sums the 40 rows
    (lambda: L.PReLU(), (4, 3, 2, 2), 48),  # one slope: its gradient sums everything
    (lambda: L.PReLU(3), (4, 3, 2, 2), 16),  # one slope per channel
    (lambda: L.Softmax(-1), (2, 3, 7), 7),
    (lambda: L.AvgPool2D(3, stride=2), (1, 1, 7, 7), 9),
    (lambda: L.GlobalAvgPool2D(), (2, 3, 5, 7), 35),
    (lambda: L.MaxPool2D(3, stride=2), (1, 1, 7, 7), 1),
    (lambda: L.ReLU(), (3, 4, 5), 1),
    # lenet5 on one image: the first conv's weight gradient over 28*28 positions beats 16*5*5 = 400
    (models.lenet5, (1, 1, 28, 28), 784),
    # the Dense after Flatten sums 2*8*8 = 128 features, more than the conv's 64 positions
    (lambda: L.Sequential(L.Conv2D(1, 2, 3, padding=1), L.Flatten(), L.Dense(128, 10)), (1, 1, 8, 8), 128),
    (lambda: L.Residual(L.Sequential(L.Dense(6, 6), L.Tanh())), (30, 6), 30),  # the batch, inside the body
])
def test_longest_reduction_of_layers_and_models(make, shape, k):
    assert longest_reduction(make(), shape) == k


@pytest.mark.parametrize("loss,shape,k", [
    (losses.SoftmaxCrossEntropy(), (8, 5), 8),  # the mean over 8 samples beats 5 classes
    (losses.SoftmaxCrossEntropy(), (2, 9), 9),  # the softmax over 9 classes beats 2 samples
    (losses.SoftmaxCrossEntropy(reduction="none"), (6, 4), 4),
    (losses.MultiMargin(), (4, 3), 4),
    (losses.MSE(), (4, 6), 24),  # every element
    (losses.MSE(reduction="none"), (3, 2, 2), 1),  # no sum at all
    (losses.BCEWithLogits(reduction="sum"), (2, 5), 10),
])
def test_loss_reduction(loss, shape, k):
    assert loss_reduction(loss, shape) == k


def test_a_model_followed_by_a_loss_counts_the_loss():
    assert longest_reduction(L.Flatten(), (7, 2, 3)) == 1
    assert longest_reduction(L.Flatten(), (7, 2, 3), loss=losses.SoftmaxCrossEntropy()) == 7  # 7 samples, 6 classes


def test_leaf_shapes_follow_the_forward_pass_and_leave_the_layers_as_they_were():
    model = L.Residual(L.Sequential(L.Conv2D(3, 4, 3), L.ReLU()), shortcut=L.Conv2D(3, 4, 3))
    seen, out = leaf_shapes(model, (2, 3, 6, 6))
    assert [(type(m).__name__, x, y) for m, x, y in seen] == [
        ("Conv2D", (2, 3, 6, 6), (2, 4, 4, 4)), ("ReLU", (2, 4, 4, 4), (2, 4, 4, 4)),
        ("Conv2D", (2, 3, 6, 6), (2, 4, 4, 4))]
    assert out == (2, 4, 4, 4)
    assert all("forward" not in vars(m) for m in model.modules())
