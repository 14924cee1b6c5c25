"""Float executor vs onnxruntime, both single-threaded, on ResNet-18 and MobileNetV2 at 224x224.

Usage: python benchmarks/float_executor.py [--runs 5] [--batches 1 8] [--models resnet18 mobilenet_v2] [--keep-heap]

Prints median wall times (ms) and ratios:
- ``ours``: the float executor on the graph as imported (every BatchNormalization and activation a
  separate kernel);
- ``ours+fold``: the same after ``quant.passes.fold_batchnorm`` (BN folded into the Conv before it);
- ``ort``: onnxruntime with its default graph optimizations (BN folded, Relu/Clip fused into Conv);
- ``ort-raw``: onnxruntime with graph optimizations disabled (the graph as written, like ``ours``).
The repetitions are interleaved, so load from other processes hits every column alike.

``--keep-heap`` (glibc only) tells malloc to serve large blocks from the heap and never give freed
memory back to the OS. By default every tensor over 32 MB (batch 8 activations) is a fresh mmap that
page-faults on first touch, which costs more than the arithmetic of a memory-bound kernel;
onnxruntime avoids that with its own arena. The flag is off by default: it changes the allocator of
the whole process.
"""
import ctypes
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy is imported
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from quant import executor, zoo  # noqa: E402
from quant.onnx_import import import_model  # noqa: E402
from quant.passes.fold_batchnorm import fold_batchnorm  # noqa: E402


def _keep_heap() -> None:
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    if not (libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 2**31 - 1)):
        sys.exit("mallopt refused the settings")


def _session(model, optimize: bool) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _medians(fns: dict, runs: int) -> dict[str, float]:
    """Median seconds of each function; one warm-up call each, then the runs interleaved."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--models", nargs="+", default=["resnet18", "mobilenet_v2"])
    ap.add_argument("--keep-heap", action="store_true", help="glibc mallopt: keep freed memory for reuse")
    args = ap.parse_args()
    if args.keep_heap:
        _keep_heap()
    cols = ("ours", "ours+fold", "ort", "ort-raw")
    print(f"{'model':<13} {'batch':>5} " + " ".join(f"{c:>9}" for c in cols)
          + f" {'ours/ort':>9} {'fold/ort':>9} {'ours/raw':>9}")
    for name in args.models:
        model = getattr(zoo, name)(224)
        graph = import_model(model)
        folded = fold_batchnorm(graph)
        fused, raw = _session(model, True), _session(model, False)
        for batch in args.batches:
            x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
            t = _medians({
                "ours": lambda: executor.run(graph, {"x": x}),
                "ours+fold": lambda: executor.run(folded, {"x": x}),
                "ort": lambda: fused.run(None, {"x": x}),
                "ort-raw": lambda: raw.run(None, {"x": x}),
            }, args.runs)
            print(f"{name:<13} {batch:>5} " + " ".join(f"{t[c] * 1e3:>9.1f}" for c in cols)
                  + f" {t['ours'] / t['ort']:>9.2f} {t['ours+fold'] / t['ort']:>9.2f} {t['ours'] / t['ort-raw']:>9.2f}")


if __name__ == "__main__":
    main()
