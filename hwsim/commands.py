"""The model verbs of the CLI: quantize, run, simulate, deploy. Each parses, calls the API, writes."""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path

import numpy as np

from hwsim.errors import HwsimError


def _input_shapes(specs: list[str] | None) -> dict[str, tuple[int | str, ...]] | None:
    """``x=1x3x224x224`` (or ``x=Nx3x224x224``: a name first keeps the batch symbolic)."""
    if not specs:
        return None
    shapes = {}
    for spec in specs:
        name, _, dims = spec.partition("=")
        first, *rest = re.split("[xX]", dims)
        try:
            shapes[name] = (first if first.isidentifier() else int(first), *(int(d) for d in rest))
        except ValueError:
            raise HwsimError(f"--input-shape '{spec}': expected NAME=DxDxD, e.g. x=1x3x224x224 or x=Nx3x224x224") from None
    return shapes


def _import(path: str, args: argparse.Namespace):
    from quant.onnx_import import import_model

    if not Path(path).is_file():
        raise HwsimError(f"{path}: no such model file")
    return import_model(path, input_shapes=_input_shapes(getattr(args, "input_shape", None)))


def _progress(args: argparse.Namespace):
    """Bars on stderr while stdout is a terminal; a line per step with --verbose; nothing with --quiet."""
    from hwsim.progress import Progress

    live = sys.stdout.isatty() and sys.stderr.isatty()
    return Progress(sys.stderr, live=live) if not args.quiet and (live or args.verbose) else Progress()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write next to ``path`` and rename into place, so a failure never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as e:
        raise HwsimError(f"{path}: cannot write ({e.strerror}); choose another -o") from None
    finally:
        tmp.unlink(missing_ok=True)


def _check_out_file(path: Path, force: bool) -> None:
    if path.is_dir():
        raise HwsimError(f"{path}: is a directory; give a file name to -o")
    if not path.parent.is_dir():
        raise HwsimError(f"{path}: folder {path.parent} does not exist; create it or choose another -o")
    if path.exists() and not force:
        raise HwsimError(f"{path}: already exists; choose another -o or pass --force to replace it")


def _is_quantized(graph) -> bool:
    return any(n.op_type == "QuantizeLinear" for n in graph.nodes)


def _violations(graph, target) -> list[str]:
    """The target's rules an imported QDQ model breaks, each as one line."""
    from hwsim.exec import check_constraints

    return [str(v) for v in check_constraints(graph, target.quantization)]


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"hwsim: warning: {line}", file=sys.stderr)


def cmd_quantize(args: argparse.Namespace) -> int:
    from hwsim.data import load_npz
    from hwsim.target import load
    from quant.ptq import quantize
    from quant.qconfig import QConfig, load_qconfig
    from quant.qdq_export import to_onnx

    out = Path(args.output)
    _check_out_file(out, args.force)
    target = load(args.target)
    graph = _import(args.model, args)
    ds = load_npz(args.data, graph)
    result = quantize(graph, target.quantization, ds.batches(64), load_qconfig(args.config) if args.config else QConfig(),
                      bias_correction=args.bias_correction)
    _write_atomic(out, to_onnx(result.graph).SerializeToString())
    print(f"{out}: {len(result.table)} tensors quantized for {target.name} ({target.quant_summary})")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from hwsim.data import load_npz
    from quant.executor import run

    out = Path(args.output)
    _check_out_file(out, args.force)
    graph = _import(args.model, args)
    ds = load_npz(args.data, graph)
    quantized = _is_quantized(graph)
    if quantized and args.target:
        from hwsim.exec import run_integer
        from hwsim.target import load

        target = load(args.target)
        _warn(_violations(graph, target))
        runner, how = (lambda f: run_integer(graph, target, f)), f"integer on {target.name}"
    else:
        if args.target:
            _warn([f"{args.model} has no QuantizeLinear nodes: --target is ignored and the model runs in float"])
        runner, how = (lambda f: run(graph, f)), "float (fake-quant)" if quantized else "float"
    outs: dict[str, list[np.ndarray]] = {}
    for batch in ds.batches(64):
        for k, v in runner(batch).items():
            outs.setdefault(k, []).append(v)
    buf = io.BytesIO()
    np.savez(buf, **{k: np.concatenate(v) for k, v in outs.items()})
    _write_atomic(out, buf.getvalue())
    print(f"{out}: {', '.join(outs)} for {ds.size} samples ({how})")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from hwsim.report.files import check_writable, write_report_dir
    from hwsim.sim import simulate
    from hwsim.target import load

    if args.batch < 1:
        raise HwsimError(f"--batch {args.batch}: give at least 1 input per inference")
    out = Path(args.out)
    check_writable(out, force=args.force)
    target = load(args.target)
    graph = _import(args.model, args)
    if args.data and not _is_quantized(graph):
        raise HwsimError(f"{args.model}: --data needs a quantized (QDQ) model to run in integers; "
                         "run `hwsim quantize` first, or use `hwsim deploy`")
    violations = _violations(graph, target) if _is_quantized(graph) else []
    _warn(violations)
    result = simulate(graph, target, batch=args.batch)
    report = result.report.model_dump(mode="json")
    report["violations"] = violations
    if args.data:
        report["accuracy"] = _fidelity(graph, target, args.data)
    files = {"report.json": json.dumps(report, sort_keys=True, indent=1) + "\n",
             "trace.json": json.dumps(result.chrome_trace(target), sort_keys=True) + "\n"}
    write_report_dir(out, files, force=args.force)
    r = result.report
    print(f"{out}: {r.total_cycles} cycles = {r.latency_ms:.4g} ms on {target.name}; peak SRAM {r.peak_sram_bytes} B; "
          f"DRAM {r.dram_bytes_read} B read, {r.dram_bytes_written} B written")
    return 0


def _fidelity(graph, target, data: str) -> dict:
    """Integer execution of a QDQ model vs its float (fake-quant) execution, or top-1 with labels."""
    from hwsim.data import load_npz
    from hwsim.evaluate import collect, finite_or_none, sqnr_db, top1
    from hwsim.exec import run_integer
    from quant.executor import run

    ds = load_npz(data, graph)
    name = graph.output_names[0]
    ref = collect(lambda f: run(graph, f)[name], ds.batches(64))
    got = collect(lambda f: run_integer(graph, target, f)[name], ds.batches(64))
    acc = {"samples": ds.size, "integer_sqnr_db_vs_fake_quant": finite_or_none(sqnr_db(ref, got)),
           "top1_agreement": float(np.mean(top1(ref) == top1(got)))}
    if ds.labels is not None:
        acc["integer_top1"] = float(np.mean(top1(got) == ds.labels))
    return acc


def cmd_deploy(args: argparse.Namespace) -> int:
    from hwsim.deployment import deploy
    from hwsim.report import html, markdown
    from hwsim.report.files import check_writable, write_report_dir

    out = Path(args.out)
    check_writable(out, force=args.force)
    if args.model is not None and args.data is None:
        raise HwsimError("deploy: --data calib.npz is required with a model (the bundled example brings its own)")
    d = deploy(args.model, args.target, args.data, args.eval, args.config, sensitivity=args.sensitivity,
               bias_correction=args.bias_correction, input_shapes=_input_shapes(args.input_shape), progress=_progress(args))
    files = {"report.json": d.report.to_json(), "report.md": markdown.render(d.report), "report.html": html.render(d.report),
             "trace.json": json.dumps(d.sim.chrome_trace(d.target), sort_keys=True) + "\n"}
    write_report_dir(out, files, force=args.force)
    if not args.quiet:
        print(markdown.summary(d.report))
        print(f"  report:   {out}/report.html, report.md, report.json, trace.json")
    return 0


def _common(p: argparse.ArgumentParser, *, out_dir: bool) -> None:
    p.add_argument("--force", action="store_true", help="replace an existing output" + (" directory" if out_dir else " file"))
    p.add_argument("--input-shape", action="append", metavar="NAME=DxD..", help="fix a symbolic input shape, e.g. x=1x3x224x224 (x=Nx3x224x224 keeps the batch symbolic)")


def register(verbs: argparse._SubParsersAction) -> None:
    q = verbs.add_parser("quantize", help="float ONNX + target + calibration data -> QDQ ONNX")
    q.add_argument("model")
    q.add_argument("--target", required=True, help="target name or path")
    q.add_argument("--data", required=True, help="calibration .npz")
    q.add_argument("-o", "--output", required=True, help="output .qdq.onnx")
    q.add_argument("--config", help="quant config YAML or preset name")
    q.add_argument("--bias-correction", action="store_true", help="correct each layer's bias for its mean quantization error")
    _common(q, out_dir=False)
    q.set_defaults(func=cmd_quantize)

    r = verbs.add_parser("run", help="run a model on data: float, or integer (bit-exact) for a QDQ model with --target")
    r.add_argument("model")
    r.add_argument("--target", help="target name or path (integer execution of a QDQ model)")
    r.add_argument("--data", required=True, help="input .npz")
    r.add_argument("-o", "--output", required=True, help="output .npz")
    _common(r, out_dir=False)
    r.set_defaults(func=cmd_run)

    s = verbs.add_parser("simulate", help="cycles, memory and a trace of a (QDQ) model on a target")
    s.add_argument("model")
    s.add_argument("--target", required=True)
    s.add_argument("--data", help="eval .npz: also run the integer executor and report fidelity")
    s.add_argument("--batch", type=int, default=1, help="inputs per inference")
    s.add_argument("--out", required=True, help="report directory")
    _common(s, out_dir=True)
    s.set_defaults(func=cmd_simulate)

    d = verbs.add_parser("deploy", help="import, quantize, simulate, execute and report (default: the bundled example)")
    d.add_argument("model", nargs="?", help="float ONNX model (default: examples/digits/model.onnx with its data)")
    d.add_argument("--target", default="generic", help="target name or path (default: generic)")
    d.add_argument("--data", help="calibration .npz")
    d.add_argument("--eval", help="evaluation .npz (labels in 'y' give top-1; otherwise fidelity vs float)")
    d.add_argument("--config", help="quant config YAML or preset name")
    d.add_argument("--sensitivity", action="store_true", help="rank layers by how much their quantization hurts")
    d.add_argument("--bias-correction", action="store_true", help="correct each layer's bias for its mean quantization error")
    d.add_argument("--out", required=True, help="report directory")
    d.add_argument("--quiet", action="store_true", help="no progress and no summary")
    d.add_argument("--verbose", action="store_true", help="progress even when stderr is not a terminal")
    _common(d, out_dir=True)
    d.set_defaults(func=cmd_deploy)
