"""tests/cuda: the GPU backend's custom CUDA kernels checked without a GPU.

- `cuda_compile` tests compile every kernel launch layout through CuPy's code generation and NVRTC
  (needs CuPy 14, NVRTC and the CUDA runtime headers, no GPU);
- `cuda_emulated` tests run the kernels' CUDA bodies on the host and xpnet's gpu backend on a NumPy
  stand-in for CuPy (needs CuPy 14 for its code generation, and a host C++ compiler).

Where a requirement is missing the test is skipped with the reason, except under CI=true, where it
fails: .ci/run installs everything, so CI can never pass by skipping these.

This folder has no __init__.py on purpose: as a package named `cuda` it would shadow NVIDIA's `cuda`
namespace package (cuda.pathfinder), which CuPy imports to find the CUDA headers.
"""
import functools
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helpers beside this file, for the test modules' imports

import cupy_private  # noqa: E402
import gpu_standin  # noqa: E402


@functools.lru_cache(maxsize=None)
def missing(marker):
    """Why tests with `marker` cannot run here, or None."""
    if marker == "cuda_emulated":
        return gpu_standin.requirements(host=True)
    try:
        cupy_private.load()
        cupy_private.nvrtc_version()
        cupy_private.compile_options()
    except cupy_private.Unavailable as exc:
        return str(exc)
    return None


def pytest_runtest_setup(item):
    for marker in ("cuda_compile", "cuda_emulated"):
        if item.get_closest_marker(marker) is None:
            continue
        why = missing(marker)
        if why and os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {marker} tests cannot run: {why} (.ci/run installs what they need)",
                        pytrace=False)
        if why:
            pytest.skip(f"{marker} skipped: {why}")


@pytest.fixture
def emulated_gpu():
    """xpnet on the gpu backend with the CuPy stand-in (kernels run on the host) for one test."""
    with gpu_standin.emulated_gpu() as fake:
        yield fake


@pytest.fixture(scope="module")
def emulated_gpu_module():
    """As `emulated_gpu`, installed once for a whole test module."""
    with gpu_standin.emulated_gpu() as fake:
        yield fake
