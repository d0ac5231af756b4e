"""The emulated ElementwiseKernel launch follows CuPy's call semantics: the thread index `i` is the flat
C-order index of the broadcast shape whatever the arrays' memory order, loop axes merge as CuPy
merges them (which decides the generated code), outputs are given or allocated, scalars take their
parameter's type, and wrong calls raise CuPy's errors.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.cuda_emulated


@pytest.fixture(scope="module")
def cp(emulated_gpu_module):
    return emulated_gpu_module


@pytest.fixture(scope="module")
def index_kernel(cp):
    """y = i (+ x, broadcast), so the output shows which thread wrote each element."""
    return cp.ElementwiseKernel("T x", "T y", "y = i + x", "xpnet_test_index")


def plan(kernel, *args, **kwargs):
    import elementwise_call
    return elementwise_call.plan(kernel.real, list(args), **kwargs)


@pytest.mark.parametrize("order", ["C", "F", "strided", "batch_last"])
def test_i_is_the_c_order_index_of_the_output(cp, index_kernel, order):
    shape = (3, 4, 5)
    y = {"C": lambda: cp.empty(shape), "F": lambda: cp.empty(shape, order="F"),
         "strided": lambda: cp.empty((3, 8, 5))[:, ::2],
         "batch_last": lambda: cp.empty((4, 5, 3)).transpose(2, 0, 1)}[order]()
    assert index_kernel(0.0, y) is y
    np.testing.assert_array_equal(y.get(), np.arange(60.0).reshape(shape))


def test_inputs_broadcast_and_outputs_are_allocated_c_contiguous(cp, index_kernel):
    y = index_kernel(cp.asarray(np.array([[100.0], [200.0]])), cp.empty((2, 3)))
    np.testing.assert_array_equal(y.get(), [[100, 101, 102], [203, 204, 205]])
    fresh = index_kernel(cp.asarray(np.zeros((2, 3))).transpose(1, 0))
    assert fresh.shape == (3, 2) and fresh.flags.c_contiguous
    np.testing.assert_array_equal(fresh.get(), np.arange(6.0).reshape(3, 2))


def test_contiguous_arrays_run_as_one_flat_axis(cp, index_kernel):
    launch = plan(index_kernel, np.ones((3, 4, 5)), np.empty((3, 4, 5)))
    assert launch.shape == (60,)
    assert [(a.kind, a.ndim, a.c_contiguous) for a in launch.args] == [("array", 1, True), ("array", 1, True),
                                                                       ("indexer", 1, True)]


def test_strided_arrays_merge_the_axes_they_can(cp, index_kernel):
    x = np.ones((3, 4, 6))[:, :, :5]  # axes 0 and 1 merge; axis 2 does not reach the next row
    launch = plan(index_kernel, x, np.empty((3, 4, 5)))
    assert launch.shape == (12, 5)
    assert launch.operands[0].strides == (48, 8) and launch.operands[1].strides == (40, 8)
    assert [a.c_contiguous for a in launch.args[:2]] == [False, True]  # flags stay the original arrays'


def test_two_axes_with_a_strided_array_stay_as_they_are(cp, index_kernel):
    launch = plan(index_kernel, np.ones((4, 10))[:, ::2], np.empty((4, 5)))
    assert launch.shape == (4, 5) and launch.args[-1].ndim == 2


def test_size_one_axes_drop_out(cp, index_kernel):
    launch = plan(index_kernel, np.ones((3, 1, 6))[..., :5], np.empty((3, 1, 5)))
    assert launch.shape == (3, 5)
    assert plan(index_kernel, np.ones((3, 1, 10))[..., ::2], np.empty((3, 1, 5))).shape == (15,)  # evenly strided


def test_raw_arrays_keep_their_shape_while_the_others_merge(cp):
    gather = cp.ElementwiseKernel("raw T x", "T y", "y = x[i]", "xpnet_test_gather")
    launch = plan(gather, np.ones((2, 3)), np.empty((2, 3)))
    assert launch.shape == (6,) and [a.ndim for a in launch.args] == [2, 1, 1]
    y = gather(cp.asarray(np.arange(6.0).reshape(3, 2)).T, cp.empty((2, 3)))
    np.testing.assert_array_equal(y.get(), [[0, 2, 4], [1, 3, 5]])  # x[i] is x's own C-order element i


def test_size_sets_the_loop_when_every_array_is_raw(cp):
    copy = cp.ElementwiseKernel("raw T x", "raw T y", "y[i] = x[i]", "xpnet_test_copy")
    launch = plan(copy, np.arange(6.0).reshape(2, 3), np.empty((2, 3)), size=6)
    assert launch.shape == (6,) and [a.ndim for a in launch.args] == [2, 2, 1]
    y = cp.empty((2, 3))
    copy(cp.asarray(np.arange(6.0).reshape(2, 3)), y, size=6)
    np.testing.assert_array_equal(y.get(), np.arange(6.0).reshape(2, 3))


def test_scalars_take_their_parameter_type(cp):
    kernel = cp.ElementwiseKernel("T x, int32 n, float64 s", "T y", "y = x * n + s", "xpnet_test_scalars")
    launch = plan(kernel, np.ones(3, np.float32), 2, 0.5, np.empty(3, np.float32))
    assert [str(a.dtype) for a in launch.args[:3]] == ["float32", "int32", "float64"]
    np.testing.assert_array_equal(kernel(cp.asarray(np.ones(3, np.float32)), 2, 0.5).get(), [2.5] * 3)


def test_an_empty_loop_launches_nothing(cp, index_kernel):
    from device_log import log
    with log.counting() as ops:
        y = index_kernel(cp.empty((0, 3)))
    assert y.shape == (0, 3) and ops.count("kernel") == 0


@pytest.mark.parametrize("call, error", [
    (lambda k, cp: k(), "Wrong number of arguments"),
    (lambda k, cp: k(cp.empty(3), cp.empty(4)), "could not be broadcast together with shapes"),
    (lambda k, cp: k(cp.empty((2, 3)), cp.empty(3)), "Out shape is mismatched"),
    (lambda k, cp: k(1.0), "Loop size is undecided"),
    (lambda k, cp: k(cp.empty(3), size=3), "'size' can be used only"),
    (lambda k, cp: k(np.ones(3)), "Unsupported type"),
    (lambda k, cp: k(cp.empty(3, np.float32), cp.empty(3)), "Type is mismatched"),
], ids=["count", "broadcast", "out-shape", "undecided", "size", "host-array", "types"])
def test_wrong_calls_raise_cupys_errors(cp, index_kernel, call, error):
    with pytest.raises((TypeError, ValueError), match=error):
        call(index_kernel, cp)
