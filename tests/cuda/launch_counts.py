"""Device operations per training step on the emulated GPU, by the counting rules of device_log.py.

A step is xpnet.bench.training.xpnet_step: zero_grad, forward, SoftmaxCrossEntropy, backward (no
input gradient for the first layer) and an Adam step. The step counted is the second one, when
Adam's state exists, as in every later step. Kernel bodies are not run (the counts do not depend on
the values), so this needs CuPy for code generation but no host compiler. Convolutions run im2col.

    python tests/cuda/launch_counts.py [--batch 128] [MODEL ...]     (default: lenet5 fashion_cnn)
"""
import argparse
import sys
from pathlib import Path

KINDS = ("kernel", "ufunc", "reduce", "copy", "fill", "matmul", "random")


def _built(model_name):
    """Built-in model `model_name` with its convolutions held to im2col: the counts are im2col's, and the
    tuner, timing kernels that do not run, would pick an algorithm at random."""
    from xpnet.bench.training import build
    from xpnet.layers import Conv2D
    model, _ = build(model_name)
    for layer in model.modules():
        if isinstance(layer, Conv2D):
            layer.requested_algorithm = "im2col"
    return model


def per_step(model_name, batch=128):
    """The DeviceLog of one steady-state training step of built-in model `model_name` at `batch`."""
    import gpu_standin
    from device_log import log
    with gpu_standin.emulated_gpu(execute=False):
        from xpnet.bench.training import batch as make_batch
        from xpnet.bench.training import xpnet_step
        step = xpnet_step(_built(model_name))
        x, y = make_batch(batch)
        step(x, y)
        with log.counting() as ops:
            step(x, y)
    return ops


def per_phase(model_name, batch=128):
    """{phase: DeviceLog} of the same steady-state step, its phases run one by one as xpnet_step runs them
    (test_cuda_launches.py checks that they add up to `per_step`)."""
    import gpu_standin
    from device_log import log
    with gpu_standin.emulated_gpu(execute=False):
        from xpnet.bench.training import batch as make_batch
        from xpnet.losses import SoftmaxCrossEntropy
        from xpnet.optim import Adam
        model = _built(model_name)
        model.train()
        model.needs_input_grad = False
        loss, optimizer, out = SoftmaxCrossEntropy(), Adam(model.parameters()), {}
        x, y = make_batch(batch)
        phases = {"zero_grad": optimizer.zero_grad, "forward": lambda: out.update(y=model(x)),
                  "loss": lambda: loss(out["y"], y), "backward": lambda: model.backward(loss.backward()),
                  "Adam step": optimizer.step}
        counts = {}
        for warm_up in (True, False):
            for phase, run in phases.items():
                with log.counting() as counts[phase]:
                    run()
    return counts


def table(names, batch):
    lines = [f"device operations per training step at batch {batch} (emulated GPU, tests/cuda/device_log.py rules)",
             "| model | launches | " + " | ".join(KINDS) + " | host<->device copies |",
             "|---" * (len(KINDS) + 3) + "|"]
    for name in names:
        ops = per_step(name, batch)
        lines.append(f"| {name} | {ops.launches()} | " + " | ".join(str(ops.count(k)) for k in KINDS)
                     + f" | {ops.transfers()} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=["lenet5", "fashion_cnn"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--detail", action="store_true", help="list every kind of operation")
    args = parser.parse_args(argv)
    print(table(args.models, args.batch))
    if args.detail:
        for name in args.models:
            ops = per_step(name, args.batch)
            phases = per_phase(name, args.batch)
            print(f"\n{name}: " + ", ".join(f"{phase} {log.launches()}" for phase, log in phases.items()))
            print("  " + ", ".join(f"{k} {n}" for k, n in sorted(ops.ops.items())))
    return 0


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parents[1])]  # the helpers beside this file, and this checkout's xpnet
    sys.exit(main())
