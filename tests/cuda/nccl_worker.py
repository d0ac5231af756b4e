"""One process of tests/cuda/test_cuda_nccl.py under mpiexec: xpnet's gpu backend on the CuPy stand-in, with
NCCL's stand-in (fakenccl.py) as `cupy.cuda.nccl` (or, with --no-nccl, none: MPI through host copies),
training as tests/mpi_worker.py does. Rank 0 saves the outcome, the communicator's name and the NCCL calls.
"""
import argparse
import json
import sys

import numpy as np

import fakenccl
import gpu_standin


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--save", required=True)
    parser.add_argument("--norm", default="sync")
    parser.add_argument("--no-nccl", action="store_true")
    parser.add_argument("--gpus", type=int, default=2, help="GPUs the emulated machine reports")
    args = parser.parse_args()
    with gpu_standin.emulated_gpu() as fakecupy:
        fakecupy.settings.devices = args.gpus
        sys.modules["cupy.cuda.nccl"] = None if args.no_nccl else fakenccl  # None: importing it fails
        import mpi_worker
        from xpnet.distributed import world
        comm = world()
        net, history = mpi_worker.train(comm, args.norm, epochs=1)
        if comm.rank == 0:
            np.savez(args.save, **mpi_worker.outcome(net, history), communicator=comm.name,
                     calls=json.dumps(fakenccl.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
