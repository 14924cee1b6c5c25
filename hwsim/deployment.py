"""``deploy``: import, quantize, check, simulate, execute, report. The API behind `hwsim deploy`."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hwsim import __version__
from hwsim.data import Dataset, load_npz
from hwsim.compiler import compile
from hwsim.evaluate import Sqnr, collect, finite_or_none, sqnr_db, top1
from hwsim.exec import check_constraints, host_nodes, lower, run_integer, run_integer_codes
from hwsim.report.model import (
    Accuracy, DeployReport, LayerSqnr, Memory, ModelInfo, Quantization, Sensitivity, TargetInfo, TensorRow, ViolationRow,
)
from hwsim.progress import Progress
from hwsim.sim import SimResult, simulate_program
from hwsim.target import Target, find, load
from quant.executor import run
from quant.ir import Graph
from quant.onnx_import import import_model
from quant.ptq import QuantResult, quantize
from quant.qconfig import QConfig, load_qconfig

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "digits"
DEFAULT_TARGET = "generic"
BATCH = 64
GRAPH_OUTPUT_SUFFIX = "_QuantizeLinear_Input"

@dataclass(frozen=True)
class Deployment:
    report: DeployReport
    quant: QuantResult
    sim: SimResult
    target: Target


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _first_output(graph: Graph, runner) -> Callable:
    name = graph.output_names[0]
    return lambda feeds: runner(feeds)[name]


def _accuracy(graph: Graph, qdq: Graph, target: Target, ds: Dataset, progress: Progress) -> Accuracy:
    with progress.stage("evaluate", 3 * ds.count(BATCH), "batches") as stage:
        float_out = collect(_first_output(graph, lambda f: run(graph, f)), stage.track(ds.batches(BATCH)))
        fq_out = collect(_first_output(qdq, lambda f: run(qdq, f)), stage.track(ds.batches(BATCH)))
        int_out = collect(_first_output(qdq, lambda f: run_integer(qdq, target, f)), stage.track(ds.batches(BATCH)))
    agreement = float(np.mean(top1(int_out) == top1(float_out)))
    common = dict(samples=ds.size, data=ds.path, integer_top1_agreement=round(agreement, 6),
                  fake_quant_sqnr_db=finite_or_none(sqnr_db(float_out, fq_out)),
                  integer_sqnr_db=finite_or_none(sqnr_db(float_out, int_out)))
    if ds.labels is None:
        return Accuracy(metric="fidelity", **common)
    classes = int(np.prod(float_out.shape[1:]))
    if ds.labels.max() >= classes:
        from quant.errors import DataError

        raise DataError(f"{ds.path}: 'y' has class label {ds.labels.max()} but the model has {classes} outputs per sample")
    acc = lambda out: round(float(np.mean(top1(out) == ds.labels)), 6)  # noqa: E731
    return Accuracy(metric="top1", float_top1=acc(float_out), fake_quant_top1=acc(fq_out), integer_top1=acc(int_out), **common)


MAX_TOP1_DROP = 0.01  # labelled top-1 may fall this much below float before the report warns
MIN_TOP1_AGREEMENT = 0.95  # without labels: the share of samples whose integer top-1 matches float
MIN_OUTPUT_SQNR_DB = 10.0  # below this the integer output barely tracks the float one


def _accuracy_warnings(a: Accuracy) -> list[str]:
    out = []
    if a.integer_top1 is not None and a.float_top1 is not None and a.float_top1 - a.integer_top1 > MAX_TOP1_DROP:
        out.append(f"integer top-1 is {100 * (a.float_top1 - a.integer_top1):.1f} points below float")
    if a.integer_top1_agreement < MIN_TOP1_AGREEMENT:
        out.append(f"integer top-1 agrees with float on only {100 * a.integer_top1_agreement:.1f}% of samples")
    if a.integer_sqnr_db is not None and a.integer_sqnr_db < MIN_OUTPUT_SQNR_DB:
        out.append(f"integer output SQNR is {a.integer_sqnr_db:.1f} dB against float: the quantized model hardly tracks it")
    return out


def _layer_sqnr(result: QuantResult, target: Target, ds: Dataset, progress: Progress) -> list[LayerSqnr]:
    """SQNR of each quantized activation over the whole data set: float model vs the integer executor
    (dequantized), accumulated batch by batch."""
    prepared, producer = result.prepared, result.prepared.producers()
    sums: dict[str, Sqnr] = {}
    for feeds in progress.track(ds.batches(BATCH), "layer SQNR", ds.count(BATCH), "batches"):
        codes = run_integer_codes(result.graph, target, feeds)
        # insert_qdq renames a graph output's producer tensor to "<output>_QuantizeLinear_Input"
        float_name = {n: n.removesuffix(GRAPH_OUTPUT_SUFFIX) for n in codes}
        names = [n for n in codes if float_name[n] in prepared.tensors or float_name[n] in prepared.input_names]
        ref = run(prepared, feeds, fetch=[float_name[n] for n in names])
        for n in names:
            sums.setdefault(float_name[n], Sqnr()).add(ref[float_name[n]], codes[n].dequantize())
    return [LayerSqnr(tensor=f, node=producer[f].name if f in producer else "(input)", sqnr_db=finite_or_none(s.db))
            for f, s in sums.items()]


def _sensitivity(graph: Graph, target: Target, calib: Dataset, ds: Dataset, qconfig: QConfig,
                 progress: Progress) -> list[Sensitivity]:
    """For each MAC layer: output SQNR with only it float, and with only it quantized (fake-quant)."""
    from quant.opset import MATMUL_LIKE
    from quant.qconfig import Override

    feeds = next(ds.head(BATCH).batches(BATCH))
    out = graph.output_names[0]
    ref = run(graph, feeds)[out]
    layers = [n.name for n in graph.nodes if n.op_type in MATMUL_LIKE]

    def sqnr_with(overrides: list[Override]) -> float | None:
        qc = qconfig.model_copy(update={"overrides": [*qconfig.overrides, *overrides]})
        res = quantize(graph, target.quantization, calib.batches(BATCH), qc)
        return finite_or_none(sqnr_db(ref, run(res.graph, feeds)[out]))

    rows = []
    for name in progress.track(layers, "sensitivity", len(layers), "MAC layers"):
        others = [Override(name=o, float=True) for o in layers if o != name]
        rows.append(Sensitivity(layer=name, only_this_float_sqnr_db=sqnr_with([Override(name=name, float=True)]),
                                only_this_quantized_sqnr_db=sqnr_with(others)))
    # worst first: the layer whose quantization alone costs the most SQNR
    return sorted(rows, key=lambda r: np.inf if r.only_this_quantized_sqnr_db is None else r.only_this_quantized_sqnr_db)


def deploy(
    model: str | Path | None = None,
    target: str | Path = DEFAULT_TARGET,
    data: str | Path | None = None,
    eval_data: str | Path | None = None,
    config: str | Path | None = None,
    *,
    sensitivity: bool = False,
    bias_correction: bool = False,
    input_shapes: dict[str, tuple[int | str, ...]] | None = None,
    progress: Progress | None = None,
) -> Deployment:
    """Deploy ``model`` (default: the bundled digits classifier) on ``target`` and report everything."""
    progress = progress or Progress()
    if model is None:
        model = EXAMPLE_DIR / "model.onnx"
        data = data or EXAMPLE_DIR / "calib.npz"
        eval_data = eval_data or EXAMPLE_DIR / "eval.npz"
    if data is None:
        from quant.errors import DataError

        raise DataError("no calibration data: pass --data calib.npz (one array per model input, batch first)")
    with progress.stage("import"):
        tgt = load(target)
        graph = import_model(model, input_shapes=input_shapes)
        qconfig = load_qconfig(config) if config else QConfig()
        calib = load_npz(data, graph)
        evalset = load_npz(eval_data, graph) if eval_data else calib
    batches = progress.track(calib.batches(BATCH), "calibrate", calib.count(BATCH), f"batches ({calib.size} samples)")
    result = quantize(graph, tgt.quantization, batches, qconfig, bias_correction=bias_correction)
    violations = check_constraints(result.graph, tgt.quantization)
    program = compile(result.graph, tgt)
    with progress.stage("simulate", len(program.layers), "layers") as stage:
        sim = simulate_program(program, tgt, on_layer_done=stage.advance)
    accuracy = _accuracy(graph, result.graph, tgt, evalset, progress)
    layer_sqnr = _layer_sqnr(result, tgt, evalset, progress)
    sens = _sensitivity(graph, tgt, calib, evalset, qconfig, progress) if sensitivity else []
    r = sim.report
    host = [f"{lay.name} ({lay.op_type}): {lay.reason}" for lay in r.layers if lay.unit == "host"]
    # the integer executor may send more to the host than the timing model (e.g. an op fused after an
    # unrequantized accumulator in a foreign QDQ model); list those too
    timed = {lay.name for lay in r.layers if lay.unit == "host"}
    host += [f"{h.name} ({h.op_type}): {h.reason} [integer executor]" for h in host_nodes(lower(result.graph, tgt)) if h.name not in timed]
    warnings = [*result.warnings, *(str(v) for v in violations), *_accuracy_warnings(accuracy)]
    if eval_data is None:
        warnings.append("no --eval data: accuracy is measured on the calibration samples, which flatters it")
    target_path = find(target)
    report = DeployReport(
        tool=f"hwsim {__version__}",
        model=ModelInfo(path=str(model), sha256=_sha256(Path(model)), nodes=len(graph.nodes),
                        op_counts=dict(sorted(Counter(n.op_type for n in graph.nodes).items()))),
        target=TargetInfo(path=str(target_path), sha256=_sha256(target_path), name=tgt.name, summary=tgt.quant_summary,
                          macs=tgt.compute.macs, clock_mhz=tgt.compute.clock_mhz),
        quantization=Quantization(
            tensors=[TensorRow(**row) for row in result.rows()],
            violations=[ViolationRow(node=v.node, tensor=v.tensor, rule=v.rule, message=v.message) for v in violations],
            float_nodes=list(result.float_nodes), notes=list(result.notes),
        ),
        accuracy=accuracy, layer_sqnr=layer_sqnr, sensitivity=sens,
        memory=Memory(weight_bytes=r.weight_bytes, peak_sram_bytes=r.peak_sram_bytes, sram_size_bytes=r.sram_size_bytes,
                      dram_bytes_read=r.dram_bytes_read, dram_bytes_written=r.dram_bytes_written),
        latency=r, host_fallbacks=host, warnings=warnings,
    )
    return Deployment(report, result, sim, tgt)
