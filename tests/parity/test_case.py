"""How a catalogue line becomes a case: recipes built afresh per backend, labels from the layer's repr, and a
probe that leaves xpnet's generator alone."""
import xpnet.layers as L
from xpnet import backend, models, optim
from xpnet.parity.case import layer, optimizer, training
from xpnet.parity.part import part

BLOCK = part(L.Residual, part(L.Sequential, part(L.Dense, 6, 6), part(L.Tanh)))


def test_a_part_prints_the_call_as_written():
    assert repr(BLOCK) == "Residual(Sequential(Dense(6, 6), Tanh()))"
    assert repr(part(models.fc_net, (32, 16), norm="batch")) == "fc_net((32, 16), norm='batch')"


def test_a_part_builds_its_nested_parts_afresh_each_time():
    first, second = BLOCK.build(), BLOCK.build()
    assert isinstance(first.body[0], L.Dense) and isinstance(first.body[1], L.Tanh)
    assert first.body[0] is not second.body[0]
    assert first.body[0].weight.data is not second.body[0].weight.data


def test_a_single_layer_is_labelled_by_its_repr():
    case = layer(L.Conv2D, 3, 4, 3, stride=2, padding=1, x=(2, 3, 8, 9))
    assert case.label == ("Conv2D(3, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=True) "
                          "train x(2, 3, 8, 9) [float64]")
    assert case.k == 40


def test_layers_with_sub_layers_are_labelled_by_their_call():
    assert layer(models.lenet5, x=(1, 1, 28, 28), train=False).name == "lenet5() eval x(1, 1, 28, 28)"
    assert layer(L.Residual, BLOCK.args[0], x=(3, 6)).name == "Residual(Sequential(Dense(6, 6), Tanh())) train x(3, 6)"


def test_optimizer_and_training_labels():
    schedule = part(optim.StepLR, step_size=10, gamma=0.5)
    case = optimizer(optim.SGD, lr=0.05, momentum=0.9, schedule=schedule, steps=7)
    assert case.name == "SGD(lr=0.05, momentum=0.9) + StepLR(step_size=10, gamma=0.5)"
    assert (case.k, case.depth) == (1, 7)
    case = training(models.mlp, hidden=(8,), in_features=4, x=(30, 1, 2, 2), steps=3)
    assert case.name == "mlp(hidden=(8,), in_features=4) 3 training steps x(30, 1, 2, 2)"
    assert (case.k, case.depth) == (30, 3)


def test_making_a_case_leaves_the_generator_where_it_was():
    before = backend.get_rng_state()
    layer(models.lenet5, x=(1, 1, 28, 28))
    assert backend.get_rng_state() == before
