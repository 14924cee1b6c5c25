#!/usr/bin/env python3
"""Run SCALE-Sim on a conv topology and report per-layer compute cycles as JSON.

Must be run with a Python that has the ``scalesim`` package installed (it is kept
out of the project venv), e.g.::

    $SCALESIM_PYTHON tools/scalesim_run.py --topology tools/resnet18_convs.csv \
        --rows 32 --cols 32 --dataflow os --out /tmp/os.json

SCALE-Sim runs with effectively unlimited SRAM (every operand of a ResNet-18 layer fits)
and in its CALC (bandwidth-estimation) mode, where reads never stall; the script checks
that the reported stall cycles are zero.  ``compute_cycles`` is SCALE-Sim's
COMPUTE_REPORT "Total Cycles" minus "Stall Cycles" (i.e. "Total Cycles" here, as stalls
are 0).

stdout carries only the JSON (when --out is not given); everything SCALE-Sim prints
goes to stderr.
"""

import argparse
import contextlib
import csv
import json
import os
import sys
import tempfile
import time

# Everything needed to reproduce a run; written into the temporary config file.
SRAM_KB = 4096            # per buffer; ResNet-18's largest operand (2.36 M filter words) fits
RUN_NAME = "hwsim_ref"
OFFSETS = (0, 10000000, 20000000)


def config_values(rows, cols, dataflow):
    return {
        "ArrayHeight": rows,
        "ArrayWidth": cols,
        "IfmapSramSzkB": SRAM_KB,
        "FilterSramSzkB": SRAM_KB,
        "OfmapSramSzkB": SRAM_KB,
        "IfmapOffset": OFFSETS[0],
        "FilterOffset": OFFSETS[1],
        "OfmapOffset": OFFSETS[2],
        "Dataflow": dataflow,
        "InterfaceBandwidth": "CALC",
        "word_size_bytes": 1,
    }


def write_config(path, rows, cols, dataflow):
    text = f"""[general]
run_name = {RUN_NAME}

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = {SRAM_KB}
FilterSramSzkB = {SRAM_KB}
OfmapSramSzkB = {SRAM_KB}
IfmapOffset = {OFFSETS[0]}
FilterOffset = {OFFSETS[1]}
OfmapOffset = {OFFSETS[2]}
Bandwidth = 10
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""
    with open(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def stdout_to_stderr():
    """Send Python- and fd-level stdout to stderr (SCALE-Sim prints and shells out)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def read_compute_report(path):
    rows = []
    with open(path) as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        for rec in reader:
            rec = [x.strip() for x in rec]
            if not rec or rec[0] == "":
                continue
            rows.append(dict(zip(header, rec)))
    return rows


def run(topology, rows, cols, dataflow):
    from importlib.metadata import version
    from scalesim.scale_sim import scalesim

    topology = os.path.abspath(topology)
    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        cfg = os.path.join(tmp, "scale.cfg")
        write_config(cfg, rows, cols, dataflow)
        # SCALE-Sim 3 insists on a layout file even when custom layouts are off.
        layout = os.path.join(tmp, "layout.csv")
        with open(layout, "w") as f:
            f.write("Layer name,\n")
        out_dir = os.path.join(tmp, "out")

        t0 = time.perf_counter()
        with stdout_to_stderr():
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg,
                           topology=topology, layout=layout, input_type_gemm=False)
            sim.run_scale(top_path=out_dir)
        wall = time.perf_counter() - t0

        report = read_compute_report(os.path.join(out_dir, RUN_NAME, "COMPUTE_REPORT.csv"))
        topo = sim.topo
        layers = []
        for lid, rec in enumerate(report):
            assert int(rec["LayerID"]) == lid
            oh, ow = topo.get_layer_ofmap_dims(lid)
            total = int(rec["Total Cycles"])
            stall = int(rec["Stall Cycles"])
            if stall != 0:
                print(f"warning: layer {lid} has {stall} stall cycles", file=sys.stderr)
            layers.append({
                "name": topo.get_layer_name(lid),
                "M": int(oh * ow),
                "N": int(topo.get_layer_num_filters(lid)),
                "K": int(topo.get_layer_window_size(lid)),
                "compute_cycles": total - stall,
                "stall_cycles": stall,
                "mapping_efficiency_pct": float(rec["Mapping Efficiency %"]),
                "compute_util_pct": float(rec["Compute Util %"]),
            })

    return {
        "scalesim_version": version("scalesim"),
        "rows": rows,
        "cols": cols,
        "dataflow": dataflow,
        "config": config_values(rows, cols, dataflow),
        "wall_seconds": round(wall, 3),
        "layers": layers,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--topology", required=True, help="SCALE-Sim conv topology CSV")
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--cols", type=int, required=True)
    ap.add_argument("--dataflow", choices=("os", "ws", "is"), required=True)
    ap.add_argument("--out", help="write JSON here instead of stdout")
    args = ap.parse_args(argv)

    result = run(args.topology, args.rows, args.cols, args.dataflow)
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
