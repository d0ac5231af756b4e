"""Forward hooks: called with (layer, input, output) after each call of the layer, in registration order;
a result other than None replaces the output; the handle removes the hook."""
import numpy as np

from xpnet.backend import asarray, to_numpy
from xpnet.layers import Dense, ReLU, Sequential


def test_hooks_see_every_leaf_call_and_are_removed(rng):
    model = Sequential(Dense(4, 3), ReLU(), Dense(3, 2))
    seen = []
    handles = [m.register_forward_hook(lambda layer, x, y: seen.append((type(layer).__name__, x.shape, y.shape)))
               for m in model]
    x = asarray(rng.standard_normal((5, 4)), np.float32)
    y = model(x)
    assert seen == [("Dense", (5, 4), (5, 3)), ("ReLU", (5, 3), (5, 3)), ("Dense", (5, 3), (5, 2))]
    for h in handles:
        h.remove()
        h.remove()  # a second remove does nothing
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(y))
    assert len(seen) == 3
    assert "forward" not in vars(model[0])


def test_a_hook_result_replaces_the_output_in_order(rng):
    layer = ReLU()
    calls = []
    first = layer.register_forward_hook(lambda m, x, y: calls.append("first") or y * 2)
    with layer.register_forward_hook(lambda m, x, y: calls.append(to_numpy(y).copy()) and None):
        y = layer(asarray(np.array([1.0, -1.0])))
    assert calls[0] == "first" and np.array_equal(calls[1], [2.0, 0.0])
    np.testing.assert_array_equal(to_numpy(y), [2.0, 0.0])
    first.remove()
    np.testing.assert_array_equal(to_numpy(layer(asarray(np.array([1.0])))), [1.0])
    assert len(calls) == 2
