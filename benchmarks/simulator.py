#!/usr/bin/env python3
"""Benchmark the simulator: wall time of hwsim vs SCALE-Sim on ResNet-18 and MobileNetV2.

For each model (built by ``quant.zoo``) and each array (a 32x32 and a 16x16 variant of the generic
target), it times ``compile`` + ``simulate`` of the whole network (best of ``--repeat``), and, when
``$SCALESIM_PYTHON`` names a Python with the ``scalesim`` package, SCALE-Sim 3 on the same network's
dense convolution layers (``tools/scalesim_run.py`` in a subprocess; depthwise convolutions are
left out because SCALE-Sim's conv topology has no groups). The ratio is SCALE-Sim's own wall time
(as it reports it, interpreter start-up excluded) over ours for the whole network, so it
understates our advantage. Goal: a whole ResNet-18 in under 2 s, 100x faster than SCALE-Sim.

    SCALESIM_PYTHON=/work/scalesim-venv/bin/python python benchmarks/simulator.py
    python benchmarks/simulator.py --models resnet18 --arrays 32 --no-scalesim --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.compiler import compile  # noqa: E402
from hwsim.sim import simulate_program  # noqa: E402
from hwsim.target import Target, load  # noqa: E402
from quant import zoo  # noqa: E402
from quant.ir import Graph  # noqa: E402
from quant.onnx_import import import_model  # noqa: E402

SHORT = {"output_stationary": "os", "weight_stationary": "ws", "input_stationary": "is"}


def array_target(size: int) -> Target:
    """The generic target with a size x size array (SRAM scaled with the array's side)."""
    d = load("generic").model_dump()
    d["name"] = f"generic-{size}x{size}"
    d["compute"]["mac_array"].update(rows=size, cols=size)
    d["memory"]["sram"]["size_bytes"] = 262144 * size // 16
    return Target.model_validate(d)


def time_hwsim(graph: Graph, target: Target, repeat: int) -> tuple[float, dict]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = simulate_program(compile(graph, target), target)
        best = min(best, time.perf_counter() - t0)
    r = result.report
    return best, {
        "total_cycles": r.total_cycles, "latency_ms": r.latency_ms, "layers": len(r.layers),
        "tiles": sum(layer.tiles for layer in r.layers), "events": len(result.trace),
        "mac_utilization": r.mac_utilization,
    }


def conv_topology(graph: Graph) -> str:
    """SCALE-Sim conv topology CSV of the graph's dense convolutions (IFMAP sized so its ofmap matches ONNX's)."""
    rows = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    for node in graph.nodes:
        if node.op_type != "Conv" or int(node.attrs.get("group", 1)) != 1:
            continue
        w = graph.initializers[node.inputs[1]].shape if node.inputs[1] in graph.initializers else graph.tensors[node.inputs[1]].shape
        y = graph.tensors[node.outputs[0]].shape
        s = int(node.attrs.get("strides", (1, 1))[0])
        kh, kw = int(w[2]), int(w[3])
        ih, iw = (int(y[2]) - 1) * s + kh, (int(y[3]) - 1) * s + kw
        rows.append(f"{node.name}, {ih}, {iw}, {kh}, {kw}, {int(w[1])}, {int(w[0])}, {s},")
    return "\n".join(rows) + "\n"


def time_scalesim(python: str, topology: str, size: int, dataflow: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="hwsim_bench_") as tmp:
        csv, out = Path(tmp, "topology.csv"), Path(tmp, "out.json")
        csv.write_text(topology)
        t0 = time.perf_counter()
        subprocess.run([python, str(ROOT / "tools" / "scalesim_run.py"), "--topology", str(csv), "--rows", str(size),
                        "--cols", str(size), "--dataflow", SHORT[dataflow], "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        data = json.loads(out.read_text())
    return {"wall_seconds": data["wall_seconds"], "process_seconds": round(wall, 3), "layers": len(data["layers"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,mobilenet_v2", help="comma-separated quant.zoo builders")
    ap.add_argument("--arrays", default="32,16", help="comma-separated array sides")
    ap.add_argument("--repeat", type=int, default=3, help="hwsim runs per case (best is kept)")
    ap.add_argument("--no-scalesim", action="store_true", help="skip the SCALE-Sim column")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    scalesim = None if args.no_scalesim else os.environ.get("SCALESIM_PYTHON")
    if scalesim is None and not args.no_scalesim:
        print("SCALESIM_PYTHON is not set: skipping the SCALE-Sim column (see tools/README.md)")
    results = []
    header = f"{'model':14s} {'array':7s} {'layers':>6s} {'tiles':>6s} {'cycles':>11s} {'ms':>8s} {'hwsim s':>8s}"
    print(header + ("  scalesim s (convs)     ratio" if scalesim else ""))
    for model in args.models.split(","):
        graph = import_model(getattr(zoo, model)())
        for size in (int(s) for s in args.arrays.split(",")):
            target = array_target(size)
            wall, info = time_hwsim(graph, target, args.repeat)
            row = {"model": model, "array": f"{size}x{size}", "hwsim_seconds": round(wall, 4), **info}
            line = (f"{model:14s} {row['array']:7s} {info['layers']:6d} {info['tiles']:6d} {info['total_cycles']:11d} "
                    f"{info['latency_ms']:8.3f} {wall:8.3f}")
            if scalesim:
                ref = time_scalesim(scalesim, conv_topology(graph), size, target.compute.mac_array.dataflow)
                row["scalesim"] = ref
                row["ratio"] = round(ref["wall_seconds"] / wall, 1)
                line += f"  {ref['wall_seconds']:10.1f} ({ref['layers']:3d}) {row['ratio']:9.1f}x"
            print(line, flush=True)
            results.append(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
