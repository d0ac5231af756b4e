"""CPU-only tests of the parity machinery: the comparison catches planted differences, the catalogue runs
and is deterministic, the tolerances fit float32 rounding, and `xpnet parity` behaves without a GPU."""
import dataclasses
import json

import numpy as np
import pytest

from xpnet.cli import main as xpnet_main
from xpnet.parity import (Case, catalogue, compare_arrays, compare_results, gpu_asked_for, gpu_status, run_case,
                          run_side, tolerance)
from xpnet.parity.compare import F64_RTOL


def main(argv):
    """`xpnet parity ARGV`'s exit status."""
    return xpnet_main(["parity", *argv])


CASES32 = catalogue(("float32",))


def _grads(rng, dtype=np.float64):
    return {"output": rng.standard_normal((4, 5)).astype(dtype),
            "grad.weight": rng.standard_normal((3, 4)).astype(dtype),
            "grad.bias": rng.standard_normal((3, 4)).astype(dtype)}


def _failed(rows):
    return {r.quantity for r in rows if not r.passed}


# -- tolerances --------------------------------------------------------------
def test_tolerances():
    assert tolerance(np.float64, k=10 ** 6, depth=30) == F64_RTOL == 1e-10
    base = tolerance(np.float32)
    assert 1e-6 < base < 1e-5
    assert tolerance("float32", k=100) == pytest.approx(10 * base)
    assert tolerance("float32", k=100, depth=3) == pytest.approx(30 * base)
    assert tolerance("float32", allow_tf32=True) > 100 * base
    with pytest.raises(ValueError, match="float16"):
        tolerance(np.float16)


# -- the comparison catches planted differences ------------------------------
def test_identical_results_pass(rng):
    ref = _grads(rng)
    rows = compare_results("c", {k: v.copy() for k, v in ref.items()}, ref, 1e-10)
    assert [r.quantity for r in rows] == list(ref)
    assert all(r.passed and r.max_abs == 0 and r.max_rel == 0 for r in rows)


@pytest.mark.parametrize("dtype,k", [(np.float64, 1), (np.float32, 64), (np.float32, 1)])
def test_perturbation_beyond_tolerance_fails(rng, dtype, k):
    rtol = tolerance(dtype, k)
    ref = rng.standard_normal((6, 7)).astype(dtype)
    scale = np.abs(ref[2, 3]) + np.sqrt(np.mean(ref.astype(np.float64) ** 2))
    for factor, ok in [(0.25, True), (4.0, False)]:
        bad = ref.copy()
        bad[2, 3] += dtype(factor * rtol * scale)
        row = compare_arrays("c", "output", bad, ref, rtol)
        assert row.passed is ok, (factor, row)
        assert row.max_rel == pytest.approx(factor * rtol, rel=0.05)
        assert row.max_abs == pytest.approx(factor * rtol * scale, rel=0.05)


def test_swapped_gradients_fail(rng):
    ref = _grads(rng)
    swapped = dict(ref, **{"grad.weight": ref["grad.bias"], "grad.bias": ref["grad.weight"]})
    assert _failed(compare_results("c", swapped, ref, 1e-3)) == {"grad.weight", "grad.bias"}


@pytest.mark.parametrize("shape", [(4, 3), (12,), (1, 3, 4)])
def test_wrong_shape_fails(rng, shape):
    ref = rng.standard_normal((3, 4))
    row = compare_arrays("c", "output", ref.reshape(shape), ref, 1.0)
    assert not row.passed and "shape" in row.note


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("side", ["result", "reference", "both"])
def test_non_finite_fails(rng, value, side):
    ref = rng.standard_normal(5)
    other = ref.copy()
    (other if side != "reference" else ref)[1] = value
    if side == "both":
        ref[1] = value
    row = compare_arrays("c", "output", other, ref, 1.0)
    assert not row.passed and "non-finite" in row.note


def test_dtype_change_fails(rng):
    ref = rng.standard_normal(5).astype(np.float32)
    row = compare_arrays("c", "output", ref.astype(np.float64), ref, 1.0)
    assert not row.passed and "dtype" in row.note


def test_integers_must_match_exactly():
    a = np.array([3, 4, 5])
    assert compare_arrays("c", "step", a, a.copy(), 0.1).passed
    assert not compare_arrays("c", "step", a + [0, 0, 1], a, 0.1).passed


def test_missing_quantity_fails(rng):
    ref = _grads(rng)
    fewer = {k: v for k, v in ref.items() if k != "grad.bias"}
    assert _failed(compare_results("c", fewer, ref, 1.0)) == {"grad.bias"}
    assert _failed(compare_results("c", ref, fewer, 1.0)) == {"grad.bias"}


def test_small_elements_are_judged_against_the_typical_magnitude(rng):
    ref = rng.standard_normal(100)
    ref[0] = 1e-12  # a sum that cancelled: its rounding error is that of its large summands
    near = ref.copy()
    near[0] += 1e-9 * np.sqrt(np.mean(ref ** 2))
    assert compare_arrays("c", "output", near, ref, 1e-8).passed


def test_quantity_that_is_only_rounding_noise_is_judged_against_the_case(rng):
    """E.g. the gradient of a bias feeding BatchNorm: zero in exact arithmetic, noise on both sides."""
    ref = {"output": rng.standard_normal(50), "input_grad": rng.standard_normal(50), "grad.bias": 1e-17 * np.ones(4)}
    got = dict(ref, **{"grad.bias": -1e-17 * np.ones(4)})
    assert compare_results("c", got, ref, 1e-10)[2].passed
    assert not compare_arrays("c", "grad.bias", got["grad.bias"], ref["grad.bias"], 1e-10).passed
    got["grad.bias"] = ref["grad.bias"] + 1e-3
    assert not compare_results("c", got, ref, 1e-10)[2].passed


def test_runner_reports_a_difference_between_the_two_sides(rng):
    calls = []

    def flaky(gen):
        x = gen.standard_normal(8)
        calls.append(1)
        return {"output": x * (1 + 1e-6 * (len(calls) == 2))}

    rows = run_case(Case("flaky", flaky), ("cpu", "cpu"))
    assert len(calls) == 2 and _failed(rows) == {"output"}


def test_runner_turns_an_exception_into_a_failed_row():
    def broken(gen):
        raise ValueError("boom")

    [row] = run_case(Case("broken", broken), ("cpu", "cpu"))
    assert not row.passed and "ValueError: boom" in row.note


# -- the catalogue itself, both sides on the CPU -----------------------------
def test_catalogue_covers_every_component():
    import xpnet.layers as L
    import xpnet.losses as losses

    names = " ".join(c.name for c in CASES32)
    public = [getattr(L, n) for n in L.__all__] + [getattr(losses, n) for n in losses.__all__]
    # Aliases collapse to one name; functions (fuse) return the components that are checked.
    expected = {cls.__name__ for cls in public if isinstance(cls, type)} - {"Layer", "Loss", "Sequential"}
    expected |= {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "RAdam", "StepLR", "lenet5", "mlp", "fc_net",
                 "training steps", "train", "eval"}
    assert sorted(n for n in expected if n not in names) == []
    assert {c.dtype for c in catalogue()} == {"float32", "float64"}
    assert len({c.label for c in catalogue()}) == len(catalogue())


@pytest.mark.parametrize("case", catalogue(), ids=lambda c: c.label)
def test_case_runs_and_is_deterministic_on_cpu(case):
    rows = run_case(case, ("cpu", "cpu"))
    assert rows and all(r.passed and r.max_abs == 0 for r in rows), [r for r in rows if r.max_abs != 0]


@pytest.mark.parametrize("case", CASES32, ids=lambda c: c.label)
def test_float32_tolerance_fits_float32_rounding(case):
    """float32 against float64 (a difference of pure float32 rounding, like CPU vs GPU) stays in tolerance,
    while the float64 tolerance would flag it: the tolerances are neither too tight nor too loose."""
    r32 = run_side(case, "cpu")
    r64 = run_side(dataclasses.replace(case, dtype="float64"), "cpu")
    as32 = {k: v.astype(r32[k].dtype) for k, v in r64.items()}
    rtol = tolerance("float32", case.k, case.depth)
    bad = [r for r in compare_results(case.label, r32, as32, rtol) if not r.passed]
    assert not bad
    as64 = {k: v.astype(r64[k].dtype) for k, v in r32.items()}
    assert not all(r.passed for r in compare_results(case.label, as64, r64, F64_RTOL))


# -- pytest's GPU request detection and the command without a GPU ------------
@pytest.mark.parametrize("markexpr,env,asked", [
    ("", {}, False), ("gpu", {}, True), ("not gpu", {}, False), ("slow or gpu", {}, True),
    ("not slow and gpu", {}, True), ("", {"XPNET_BACKEND": "gpu"}, True), ("", {"XPNET_BACKEND": "cpu"}, False)])
def test_gpu_asked_for(markexpr, env, asked):
    assert gpu_asked_for(markexpr, env) is asked


@pytest.fixture
def no_gpu(monkeypatch):
    ok, why = gpu_status()
    if ok:
        pytest.skip("a GPU is available: the no-GPU behaviour cannot be shown here")
    monkeypatch.delenv("CUPY_TF32", raising=False)
    return why


def test_command_without_gpu_compares_nothing(no_gpu, capsys):
    assert main(["--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gpu"] is False and out["compared"] == 0
    assert "no GPU available" in out["message"] and no_gpu in out["message"]


def test_command_without_gpu_fails_when_gpu_required(no_gpu, capsys):
    assert main(["--require-gpu"]) == 1
    assert "no GPU available" in capsys.readouterr().out


def test_command_refuses_tf32_unless_allowed(no_gpu, monkeypatch, capsys):
    monkeypatch.setenv("CUPY_TF32", "1")
    assert main([]) == 2
    assert "CUPY_TF32" in capsys.readouterr().err
    assert main(["--allow-tf32"]) == 0
    monkeypatch.setenv("XPNET_PARITY_ALLOW_TF32", "1")
    assert main([]) == 0


@pytest.mark.parametrize("fmt", ["github", "plain", "json"])
def test_self_test_prints_a_table(fmt, capsys):
    assert main(["--self-test", "--only", "Dense(in_features=7,", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "Dense(in_features=7," in out and "grad.weight" in out
    if fmt == "json":
        assert json.loads(out)["failed"] == 0


def test_only_matching_nothing_fails(capsys):
    assert main(["--self-test", "--only", "no such component"]) == 1
