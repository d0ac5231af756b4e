"""Shared test setup: the backend under test comes from XPNET_BACKEND (cpu unless set)."""
import os

import numpy as np
import pytest

import xpnet
from xpnet.data import write_idx


def pytest_configure(config):
    # In CI the PyTorch comparisons and the ONNX Runtime export checks must run, never skip silently.
    if os.environ.get("CI") == "true":
        for module in ("torch", "onnx", "onnxruntime"):
            try:
                __import__(module)
            except ImportError as exc:
                raise pytest.UsageError(f"CI=true but {module} is not importable ({exc}): .ci/run installs it") \
                    from exc


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts on the requested backend, float32 default, seeded host generator; a test that
    switches the backend (as `main(["train", "--backend", "cpu"])` does) leaves the next on the session's."""
    state = xpnet.backend.registry.state
    saved = (state.requested, state.name, state.module)
    xpnet.backend.seed(0)
    with xpnet.backend.default_dtype(np.float32):
        yield
    state.requested, state.name, state.module = saved


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons skipped")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return torch


@pytest.fixture(scope="session")
def data_root():
    """The folder holding mnist/ and fashion-mnist/ (XPNET_DATA), or skip."""
    root = os.environ.get("XPNET_DATA")
    if not root or not os.path.isdir(os.path.join(root, "mnist")):
        pytest.skip("XPNET_DATA does not point at a folder with mnist/: data-set tests skipped")
    return root


@pytest.fixture(params=["one block", "row blocks"])
def blocks(request, monkeypatch):
    """Run a test with the CPU's cache-sized blocks (one block at these sizes) and with blocks of one row
    (a convolution's output row, a batch norm's channel), as large inputs run."""
    if request.param == "row blocks":
        import xpnet.backend.cpu as cpu
        monkeypatch.setattr(cpu, "_BLOCK_BYTES", 1)


@pytest.fixture
def tiny_mnist(tmp_path):
    """A folder holding mnist/ with 64 training and 40 test images: class k is a bright k-th row band."""
    folder = tmp_path / "data" / "mnist"
    gen = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 40)):
        labels = gen.integers(0, 10, n)
        images = gen.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 * k + 4: 2 * k + 7] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images.astype(np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return tmp_path / "data"
