"""The benchmark runs end to end in a tiny configuration and its pieces are right; no timing assertions."""
import json
import math
import subprocess

import numpy as np
import pytest
from util import assert_rounding_close

from xpnet import backend
from xpnet.cli import main as xpnet_main
from xpnet.bench.layers import flops
from xpnet.bench.report import Section, add_speedup, result_stem, table
from xpnet.bench.timing import Timed, Timing, measure, measure_side_by_side


def main(argv):
    """`xpnet bench ARGV`'s exit status."""
    return xpnet_main(["bench", *argv])
from xpnet.layers import (BatchNorm1D, Conv2D, Dense, Dropout, GlobalAvgPool2D, GroupNorm, Identity, LayerNorm,
                          LeakyReLU, MaxPool2D, ReLU, Residual, Sequential, Tanh)
from xpnet.models import MODELS, get_model

TINY = ["--backend", "cpu", "--quick", "--repeat", "1", "--warmup", "0", "--min-time", "0", "--settle", "0", "--models", "mlp",
        "--batch-sizes", "8",
        "--infer-batch-sizes", "1,8"]


def test_quick_train_and_infer_print_tables(capsys):
    assert main(TINY + ["--only", "train", "--only", "infer", "--format", "github"]) == 0
    out = capsys.readouterr().out
    assert "## Training throughput" in out and "## Inference throughput" in out
    assert "| mlp " in out and "matmul_peak_cpu_gflops" in out


def test_train_and_infer_rows_name_the_algorithm_each_convolution_ran(capsys, monkeypatch):
    monkeypatch.setenv("XPNET_CONV_ALGO", "shifted")  # forced, so the names do not depend on timing
    args = [a if a != "mlp" else "lenet5" for a in TINY]
    assert main(args + ["--only", "train", "--only", "infer", "--format", "json", "--no-torch", "--no-onnx"]) == 0
    sections = json.loads(capsys.readouterr().out)["sections"]
    assert [r["algorithms"] for s in sections for r in s["rows"]] == ["shifted shifted"] * 3


def test_infer_times_the_exported_model_under_onnx_runtime_unless_told_not_to(capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: its column is left out")
    for extra, present in (([], True), (["--no-onnx"], False)):
        assert main(TINY + ["--only", "infer", "--format", "json", "--no-torch", *extra]) == 0
        report = json.loads(capsys.readouterr().out)
        rows = report["sections"][0]["rows"]
        assert all((r["onnx_ms"] is not None and r["onnx_ms"] > 0 and r["onnx_ratio"] > 0) == present for r in rows)
        assert ("onnxruntime" in report["machine"]) == present


def test_infer_times_the_fused_model_where_batch_norms_fold(capsys, torch):
    args = [a if a != "mlp" else "mlp,fashion_cnn" for a in TINY]
    assert main(args + ["--only", "infer", "--format", "json", "--no-onnx", "--infer-batch-sizes", "2"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["sections"][0]["rows"]}
    assert rows["mlp"]["fused_ms"] is None and rows["mlp"]["fused_ratio"] is None  # nothing to fold
    fashion = rows["fashion_cnn"]
    assert fashion["fused_ms"] > 0 and fashion["torch_fused_ms"] > 0
    assert fashion["fused_ratio"] > 0 and fashion["fused_torch_ratio"] > 0


def test_the_fused_twins_compute_the_model_without_batch_norms(torch):
    from xpnet.bench.context import Context
    from xpnet.bench.training import fused_twins
    model = get_model("fashion_cnn")
    model(backend.asarray(backend.rng().standard_normal((8, 1, 28, 28)), "float32"))  # statistics off their start
    model.eval()
    ctx = Context(backend="cpu", torch=torch)
    fused, twin = fused_twins(ctx, model)
    assert not any("BatchNorm" in type(m).__name__ for m in [*fused.modules(), *twin.modules()])
    x = backend.rng().standard_normal((3, 1, 28, 28)).astype("float32")
    _assert_twins_agree(model, twin(torch.from_numpy(x)), x)  # PyTorch's fused model computes xpnet's model
    assert fused_twins(ctx, get_model("mlp")) == (None, None)


def test_threads_holds_blas_pytorch_and_xpnets_own_passes(monkeypatch):
    import xpnet.bench.child as child
    from xpnet.environment import THREAD_VARIABLES
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    runs = []
    monkeypatch.setattr(child, "run_bench", lambda argv, env: runs.append(env) or subprocess.CompletedProcess(argv, 0))
    assert main(TINY + ["--only", "infer", "--threads", "1"]) == 0
    assert runs == [dict.fromkeys(THREAD_VARIABLES, "1")] and "XPNET_NUM_THREADS" in runs[0]



def test_the_onnx_runtime_twin_computes_the_model(rng):
    from xpnet.backend import asarray, to_numpy
    from xpnet.bench.onnx_twin import onnx_twin, onnxruntime
    from xpnet.parity.compare import compare_arrays, tolerance
    from xpnet.parity.reduction import leaf_shapes, longest_reduction
    ort = onnxruntime()
    if ort is None:
        pytest.skip("onnx or onnxruntime is not installed")
    model = get_model("lenet5").eval()
    x = rng.standard_normal((4, 1, 28, 28)).astype("float32")
    got, want = onnx_twin(ort, model, (1, 1, 28, 28), threads=1)(x), to_numpy(model(asarray(x)))
    rtol = tolerance("float32", longest_reduction(model, x.shape), depth=len(leaf_shapes(model, x.shape)[0]))
    row = compare_arrays("lenet5", "output", got, want, rtol)  # rounding of sums along the chain of layers
    assert row.passed, row
    assert onnxruntime(switched_off=True) is None


def test_json_output_parses_and_saves(capsys, tmp_path):
    assert main(TINY + ["--only", "infer", "--format", "json", "--no-torch", "--save",
                        "--results-dir", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    (section,) = report["sections"]
    assert section["name"] == "infer"
    assert [(r["model"], r["batch"]) for r in section["rows"]] == [("mlp", 1), ("mlp", 8)]
    assert all(r["xpnet_ms"] > 0 and r["torch_ms"] is None for r in section["rows"])
    saved = sorted(p.suffix for p in tmp_path.iterdir())
    assert saved == [".json", ".md"]
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["sections"][0]["rows"] == section["rows"]


def test_layer_section_runs(capsys, monkeypatch, torch):
    import xpnet.bench.layers as layers
    every = layers.cases  # built when the section runs, on its backend
    monkeypatch.setattr(layers, "cases", lambda: [c for c in every() if c.name.startswith("lenet5.0")
                                                  or "cross-entropy" in c.name])
    assert main(TINY + ["--only", "layers"]) == 0
    out = capsys.readouterr().out
    assert "lenet5.0 conv 5x5 1->6" in out and "softmax cross-entropy" in out and "xpnet/torch" in out


def test_bad_arguments_exit_2():
    assert main(["--only", "nothing"]) == 2
    assert main(["--models", "resnet9000"]) == 2


def _assert_twins_agree(model, theirs, x):
    """float32 outputs of `model` on `x` within rounding of torch's `theirs`: the tolerance grows with the longest
    sum (a weight's fan-in) and the number of weighted layers chained (the parity catalogue's rule)."""
    weights = [p for p in model.parameters() if len(p.shape) > 1]
    assert_rounding_close(model(backend.asarray(x)), theirs, "float32", k=max(math.prod(p.shape[1:]) for p in weights),
                          depth=len(weights))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torch_twin_matches_builtin_models(torch, name):
    from xpnet.bench.twin import torch_twin
    model = get_model(name)
    twin = torch_twin(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    model.eval(), twin.eval()
    x = backend.rng().standard_normal((3, 1, 28, 28)).astype("float32")
    _assert_twins_agree(model, twin(torch.from_numpy(x)), x)


def test_torch_twin_maps_residual_norms_and_activations(torch):
    from xpnet.bench.twin import torch_twin
    model = Sequential(Conv2D(2, 4, 3, padding=1, bias=False),
                       Residual(Sequential(Conv2D(4, 4, 3, padding=1), ReLU()), Conv2D(4, 4, 1)), GroupNorm(2, 4),
                       MaxPool2D(2), GlobalAvgPool2D(), Dense(4, 6), BatchNorm1D(6), LeakyReLU(0.2), Dropout(0.3),
                       LayerNorm(6), Tanh(), Identity())
    twin = torch_twin(model)
    model.eval(), twin.eval()
    x = backend.rng().standard_normal((2, 2, 8, 8)).astype("float32")
    _assert_twins_agree(model, twin(torch.from_numpy(x)), x)
    assert twin[7].negative_slope == 0.2 and twin[8].p == 0.3 and not twin[0].bias
    assert twin[2].num_groups == 2 and isinstance(twin[11], torch.nn.Identity)


def test_torch_twin_refuses_unknown_layers(torch):
    from xpnet.bench.twin import torch_twin
    from xpnet.layers import Layer

    class Odd(Layer):
        pass

    with pytest.raises(TypeError, match="Odd"):
        torch_twin(Sequential(Odd()))


def test_flops_of_conv_and_dense():
    assert flops(Conv2D(3, 8, 3, padding=1), (2, 8, 5, 5)) == 2 * (2 * 8 * 5 * 5) * 3 * 9
    assert flops(Conv2D(4, 8, 3, groups=2), (1, 8, 2, 2)) == 2 * 32 * 2 * 9
    assert flops(Dense(10, 4), (6, 4)) == 2 * 6 * 4 * 10
    assert flops(ReLU(), (6, 4)) is None


def test_measure_runs_setup_off_the_clock():
    calls = []
    t = measure(lambda: calls.append("f"), setup=lambda: calls.append("s"), repeat=3, warmup=1, number=2)
    assert calls == ["s", "f"] * 7 and t.runs == 3 and t.min <= t.median <= t.max


def test_side_by_side_alternates_which_job_runs_first():
    calls = []
    a, b = Timed(lambda: calls.append("a")), Timed(lambda: calls.append("b"))
    ta, tb = measure_side_by_side([a, b], repeat=4, warmup=1)
    assert calls == ["a", "b"] + ["a", "b", "b", "a"] * 2 and ta.runs == tb.runs == 4


def test_ratio_pairs_the_repetitions_timed_side_by_side():
    from xpnet.bench.context import ratio
    xpnet, torch = Timing.of([1.0, 4.0, 3.0]), Timing.of([1.0, 2.0, 3.0])  # the second pair ran in a slow spell
    assert ratio(xpnet, torch) == 1.0 and xpnet.median / torch.median == 1.5
    assert ratio(xpnet, Timing.of([2.0])) == 1.5  # unpaired: the ratio of the medians
    assert ratio(xpnet, None) is None


def test_the_epoch_is_timed_in_pieces_taken_in_turn_with_pytorchs(torch, monkeypatch):
    """Each framework steps through every batch of each epoch once, a piece of consecutive steps at a time, the
    two in turn; an epoch's time is the sum of its pieces, and the ratio pairs the pieces."""
    import types
    import xpnet.bench.timing as timing
    import xpnet.bench.training as training
    from xpnet.bench.context import Context
    clock, ran = [0.0], []

    def stepper(name, cost):  # a step that takes cost(images) seconds of the fake clock
        return lambda xb, yb: (ran.append((name, len(xb))), clock.__setitem__(0, clock[0] + cost(len(xb))))
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], sleep=lambda s: None))
    monkeypatch.setattr(training, "xpnet_step", lambda model: stepper("x", lambda n: n / 16))
    monkeypatch.setattr(training, "torch_step", lambda torch, twin: stepper("t", lambda n: 0.5))
    x = np.zeros((5 * 16 + 3, 1, 28, 28), np.float32)  # six batches of 16, the last of 3
    (row,) = training.epoch(Context(backend="cpu", torch=torch), epochs=2, batch_size=16,
                            data=(x, np.zeros(len(x), np.int64), "tiny"), pieces=4)
    pieces = [[("x", 16)] * 2, [("x", 16), ("x", 3)]]  # two steps a piece: three pieces an epoch
    x_pieces = [pieces[0], pieces[0], pieces[1]] * 2
    t_pieces = [[("t", n) for _, n in piece] for piece in x_pieces]
    turns = [a + b if r % 2 == 0 else b + a for r, (a, b) in enumerate(zip(x_pieces, t_pieces))]
    assert ran == [("x", 16)] * 3 + [("t", 16)] * 3 + [step for turn in turns for step in turn]  # warm-up first
    assert row["xpnet_s"] == row["xpnet_min_s"] == 5 + 3 / 16 and row["torch_s"] == 3.0 and row["epochs"] == 2
    assert row["ratio"] == 2.0  # the pieces' ratios 2, 2 and 19/16 paired; the epochs' would give 1.73


def test_measure_min_time_raises_the_call_count():
    calls = []
    measure(lambda: calls.append(1), repeat=2, warmup=0, min_time=1e-3)
    assert len(calls) > 3  # one calibration call, then at least 1 ms worth per repetition


def test_speedup_matches_cpu_and_gpu_rows():
    rows = [{"backend": "cpu", "case": "a", "xpnet_ms": 8.0}, {"backend": "gpu", "case": "a", "xpnet_ms": 2.0},
            {"backend": "gpu", "case": "b", "xpnet_ms": 1.0}]
    add_speedup(rows)
    assert rows[1]["gpu_speedup"] == 4.0 and "gpu_speedup" not in rows[0] and "gpu_speedup" not in rows[2]
    text = table(Section("layers", rows), "plain")
    assert "GPU/CPU" in text and "torch ms" not in text  # columns no row fills are left out


def test_result_names():
    assert result_stem({"date": "2025-01-02", "host": "box.example.org"}) == "2025-01-02-cpu-box"
    assert result_stem({"date": "2025-01-02", "host": "x", "device": "NVIDIA H100 80GB HBM3"}) == \
        "2025-01-02-gpu-nvidia-h100-80gb-hbm3"


def test_header_names_the_blas_kernel_numpy_runs(monkeypatch):
    from xpnet.bench.machine import describe
    pytest.importorskip("threadpoolctl")
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    header = describe()
    assert "threads" in header["numpy_blas_kernel"] and "blas_forced_by" not in header
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert describe()["blas_forced_by"] == "OPENBLAS_CORETYPE=Haswell"


def test_header_names_the_instruction_sets_and_what_restricts_them(monkeypatch, torch):
    from xpnet.bench.machine import SIMD_VARS, describe
    for var in SIMD_VARS:
        monkeypatch.delenv(var, raising=False)
    header = describe(torch)
    assert "simd_forced_by" not in header and header["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert header["numpy_simd"] and set(header["cpu_flags"].split()) <= {"avx2", "fma", "avx512f", "unknown"}
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert describe()["simd_forced_by"] == "ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2"


def test_memory_section_measures_each_model_in_its_own_process(capsys):
    assert main(TINY + ["--only", "memory", "--models", "mlp,simple_cnn", "--memory-steps", "1", "--no-torch",
                        "--format", "json"]) == 0
    (section,) = json.loads(capsys.readouterr().out)["sections"]
    assert [(r["model"], r["framework"]) for r in section["rows"]] == [("mlp", "xpnet"), ("simple_cnn", "xpnet")]
    assert all(r["peak_mib"] >= r["baseline_mib"] > 0 for r in section["rows"])


def test_ring_allreduce_model():
    from xpnet.bench.distributed import efficiency, ring_allreduce_seconds
    assert ring_allreduce_seconds(1000, 1, 1000, 1.0) == 0  # one worker sends nothing
    assert ring_allreduce_seconds(1000, 2, 1000, 0) == 1.0 and ring_allreduce_seconds(1000, 4, 1000, 0) == 1.5
    assert ring_allreduce_seconds(0, 4, 1000, 1e-3) == pytest.approx(6e-3)  # 2(N-1) messages
    assert efficiency(1.0, 1000, 2, 1000, 0) == 0.5


def test_distributed_sections_time_one_process_against_several(capsys, monkeypatch):
    """The distributed section times 1 process and one per core (at least 2; 2 cores here) under mpiexec; the
    scaling section models every network. The gradient buffer is the packed one: every parameter and the
    denominator."""
    import os

    from mpi_run import missing

    from xpnet import environment
    monkeypatch.setattr(environment, "cores", lambda: 2)
    why = missing()
    if why and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but processes cannot start under MPI: {why}")
    if why:
        pytest.skip(why)
    from xpnet.bench.distributed import NETWORKS
    assert main(["--backend", "cpu", "--repeat", "1", "--warmup", "0", "--min-time", "0", "--no-torch", "--models",
                 "lenet5", "--batch-sizes", "16", "--only", "distributed", "--only", "scaling", "--format",
                 "json"]) == 0
    timed, modelled = json.loads(capsys.readouterr().out)["sections"]
    backend.seed(0)
    nbytes = (sum(p.data.size for p in get_model("lenet5").parameters()) + 1) * 4
    (one, *several) = timed["rows"]
    assert [(r["processes"], r["threads"]) for r in timed["rows"]] == [(1, 2), (2, 1)]
    assert one["allreduce_ms"] is None
    for row in timed["rows"]:
        assert row["buffer_kb"] * 1024 == nbytes and row["xpnet_ms"] > 0 and row["batch"] == 16
    n = several[0]["processes"]
    assert several[0]["allreduce_ms"] > 0 and several[0]["sent_kb"] * 1024 == pytest.approx(2 * (n - 1) / n * nbytes)
    assert [r["network"] for r in modelled["rows"]] == [name for name, _, _ in NETWORKS]
    for row in modelled["rows"]:
        effs = [row[f"eff_{w}"] for w in (2, 4, 8, 16, 32, 64)]
        assert all(0 < e < 100 for e in effs) and effs == sorted(effs, reverse=True)


def test_roofline_times_every_algorithm_of_each_convolution_against_its_gemm(monkeypatch, torch):
    from xpnet.bench import roofline
    from xpnet.bench.context import Context
    from xpnet.layers.conv import ALGORITHMS
    monkeypatch.setattr(roofline, "MODELS", ("lenet5",))
    rows = roofline.run(Context("cpu", torch=torch, repeat=1, warmup=0, min_time=0), batch=4)
    cases = {}
    for r in rows:
        cases.setdefault(r["case"], []).append(r)
    assert [c.split(" conv ")[1] for c in cases] == ["5x5 1->6 at 28x28", "5x5 6->16 at 14x14"]
    for label, found in cases.items():
        first = "1->6" in label  # no input gradient: im2col_flipped would be im2col; Winograd takes only 3x3
        assert [r["algorithm"] for r in found] == ["im2col"] + ["im2col_flipped"] * (not first) + ["shifted"]
        assert sum(r["chosen"] == "yes" for r in found) == 1, label
        for r in found:
            assert r["algorithm"] in ALGORITHMS
            o, c = (6, 1) if "1->6" in label else (16, 6)
            size = 28 if "1->6" in label else 10
            work = 2 * o * c * 25 * 4 * size * size  # the direct convolution's multiply-adds, times 2
            assert r["fwd_gflops"] * r["fwd_ms"] * 1e6 == pytest.approx(work)
            assert r["bwd_gflops"] * r["bwd_ms"] * 1e6 == pytest.approx(work * (1 if c == 1 else 2))
            assert r["gemm_fwd_gflops"] > 0 and r["torch_fwd_gflops"] > 0 and r["fwd_ratio"] > 0


def test_roofline_times_a_tuned_block_size_in_a_row_of_its_own(monkeypatch, torch):
    from xpnet.backend import ops
    from xpnet.bench import roofline
    from xpnet.bench.context import Context
    from xpnet.layers import conv, tuner
    if len(ops.block_sizes()) < 2:
        pytest.skip("this backend's convolutions have one block size")
    quarter, real_fastest, real_forward, ran = ops.block_sizes()[1], tuner.fastest, conv._forward, []

    def fastest(key, candidates, run, work):  # algorithms as the tuner picks them, blocks of a quarter the size
        return quarter if isinstance(candidates()[0], int) else real_fastest(key, candidates, run, work)
    monkeypatch.setattr(tuner, "fastest", fastest)
    def forward(layer, name, *args):  # the bench's timed calls force each algorithm
        if layer.requested_algorithm != "auto":
            ran.append((name, len(ops.row_blocks(1024, 16 << 10))))
        return real_forward(layer, name, *args)
    monkeypatch.setattr(conv, "_forward", forward)
    monkeypatch.setattr(roofline, "MODELS", ("lenet5",))
    rows = roofline.run(Context("cpu", torch=torch, repeat=1, warmup=0, min_time=0), batch=4)
    label = f"im2col/{quarter / 2 ** 20:g}MiB"
    assert [r["algorithm"] for r in rows] == ["im2col", "shifted", label, "im2col", "im2col_flipped", "shifted", label]
    assert [r["chosen"] for r in rows] == ["", "", "yes", "", "", "", "yes"]
    default_blocks = len(ops.row_blocks(1024, 16 << 10))
    assert set(ran) == {(a, default_blocks) for a in ("im2col", "im2col_flipped", "shifted")} | {
        ("im2col", 4 * default_blocks)}


def test_blocks_section_times_each_algorithm_in_each_block_size(monkeypatch):
    from xpnet.backend import ops
    from xpnet.bench import blocks, report
    from xpnet.bench.context import Context
    from xpnet.layers import conv
    real, ran = conv._forward, set()

    def forward(layer, name, *args):
        ran.add((name, len(ops.row_blocks(1024, 16 << 10))))
        return real(layer, name, *args)
    monkeypatch.setattr(conv, "_forward", forward)
    monkeypatch.setattr(blocks, "MODELS", ("lenet5",))
    rows = blocks.run(Context("cpu", torch=None, repeat=1, warmup=0, min_time=0), batch=4)
    sizes = ops.block_sizes()
    second = ["im2col", "im2col_flipped", "shifted"]  # the first layer has no input gradient: no im2col_flipped
    mib = [report.mib(s) for s in sizes]
    assert [(r["algorithm"], r["blocks"]) for r in rows] == [
        (a, m) for a in ("im2col", "shifted") for m in mib] + [(a, m) for a in second for m in mib]
    assert all(r["ms"] > 0 for r in rows) and [r["of_default"] for r in rows[::len(sizes)]] == [1.0] * 5
    counts = []
    for s in sizes:
        with ops.blocks_of(s):
            counts.append(len(ops.row_blocks(1024, 16 << 10)))
    assert {(a, c) for a in second for c in counts} <= ran


def test_profile_section_has_a_row_per_layer_and_the_whole_step(capsys, monkeypatch, torch):
    from xpnet.bench import profile
    monkeypatch.setattr(profile, "STEPS", 2)
    monkeypatch.setattr(profile, "WARMUP", 1)
    assert main(TINY + ["--only", "profile", "--format", "json", "--models", "simple_cnn"]) == 0
    rows = json.loads(capsys.readouterr().out)["sections"][0]["rows"]
    model = get_model("simple_cnn")
    assert [r["layer"].split(" ", 1)[0] for r in rows] == [str(i) for i in range(len(model))] + ["whole"]
    assert rows[0]["algorithm"] == "im2col" and rows[0]["layer"].startswith("0 conv 3x3")
    for r in rows[:-1]:
        assert min(r["xpnet_fwd_ms"], r["xpnet_bwd_ms"], r["torch_fwd_ms"], r["torch_bwd_ms"]) >= 0
    step = rows[-1]
    assert step["xpnet_step_ms"] > 0 and step["ratio"] == pytest.approx(step["xpnet_step_ms"] / step["torch_step_ms"])


class _Sleeps:
    """A layer's time, known: forward sleeps 50 ms, backward 100 ms."""
    FORWARD, BACKWARD = 0.05, 0.1


def test_profile_gives_each_layer_its_own_time(torch):
    """A layer that sleeps is charged its sleep, forward and backward, in both libraries; its neighbours not."""
    import time

    from xpnet.backend import asarray
    from xpnet.bench import profile
    from xpnet.bench.context import Context
    from xpnet.layers import Layer

    class Slow(Layer):
        def forward(self, x):
            time.sleep(_Sleeps.FORWARD)
            return x

        def backward(self, dy):
            time.sleep(_Sleeps.BACKWARD)
            return dy

    class SlowFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            time.sleep(_Sleeps.FORWARD)
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            time.sleep(_Sleeps.BACKWARD)
            return grad

    class SlowModule(torch.nn.Module):
        def forward(self, x):
            return SlowFunction.apply(x)

    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    ours = profile._record(3)
    profile._xpnet_run(Sequential(Dense(3, 3), Slow(), Dense(3, 2)), asarray(x), asarray(y))(ours)
    theirs = profile._record(3)
    twin = torch.nn.Sequential(torch.nn.Linear(3, 3), SlowModule(), torch.nn.Linear(3, 2))
    profile._torch_run(Context("cpu", torch=torch), twin, torch.from_numpy(x), torch.from_numpy(y))(theirs)
    for record in (ours, theirs):
        fwd, bwd = [t[0] for t in record["fwd"]], [t[0] for t in record["bwd"]]
        assert fwd[1] >= _Sleeps.FORWARD and bwd[1] >= _Sleeps.BACKWARD
        assert max(fwd[0], fwd[2], bwd[0], bwd[2]) < _Sleeps.FORWARD / 2  # the sleeps land in no other layer
        assert record["step"][0] >= sum(fwd) + sum(bwd)
