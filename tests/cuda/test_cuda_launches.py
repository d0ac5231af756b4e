"""A training step on the (emulated) GPU runs on the fused kernels: per convolution one im2col for the
forward pass and one for the weight gradient, and one col2im for each input gradient asked for; one
kernel each way per max-pool and per ReLU gradient; one Adam kernel per parameter. The step never
copies between host and device, so it never waits for the GPU. launch_counts.py prints the counts.
"""
import pytest

from launch_counts import per_phase, per_step
from xpnet.layers import Conv2D, MaxPool2D, ReLU
from xpnet.models import get_model

pytestmark = pytest.mark.cuda_emulated


@pytest.mark.parametrize("name", ["lenet5", "fashion_cnn"])
def test_a_training_step_launches_the_fused_kernels_and_no_transfers(name):
    model = get_model(name)
    convs, pools, relus = (sum(isinstance(m, kind) for m in model.modules()) for kind in (Conv2D, MaxPool2D, ReLU))
    ops = per_step(name, batch=4)
    assert ops.count("kernel xpnet_im2col") == 2 * convs
    assert ops.count("kernel xpnet_col2im") == convs - 1  # the first layer computes no input gradient
    assert ops.count("kernel xpnet_max_pool_backward") == pools and ops.count("kernel xpnet_max_pool") == 2 * pools
    assert ops.count("kernel xpnet_relu_grad") == relus
    assert ops.count("kernel xpnet_adam") == len(model.parameters())
    assert ops.transfers() == 0, sorted(ops.ops.items())
    assert ops.launches() > ops.count("kernel")


def test_the_phases_add_up_to_the_step():
    phases = per_phase("lenet5", batch=4)
    assert sum(log.launches() for log in phases.values()) == per_step("lenet5", batch=4).launches()
    assert phases["backward"].count("kernel xpnet_col2im") == 1 and phases["forward"].count("kernel xpnet_im2col") == 2
