"""Deploy one model on every target in targets/ and print a comparison table.

    python examples/compare_targets.py                      # the bundled digits classifier
    python examples/compare_targets.py model.onnx calib.npz eval.npz
"""
import sys

from hwsim.deployment import deploy
from hwsim.target import target_names


def main(argv: list[str]) -> None:
    model, data, eval_data = (argv + [None, None, None])[:3]
    rows = [("target", "quantization", "float", "integer", "ms", "MAC util", "peak SRAM KiB", "host ops")]
    for name in target_names():
        r = deploy(model, name, data, eval_data).report
        a = r.accuracy
        acc = (lambda x: f"{100 * x:.2f}%") if a.metric == "top1" else None
        rows.append((
            name, r.target.summary,
            acc(a.float_top1) if acc else "-",
            acc(a.integer_top1) if acc else f"{a.integer_sqnr_db} dB",
            f"{r.latency.latency_ms:.4f}", f"{100 * r.latency.mac_utilization:.1f}%",
            f"{r.memory.peak_sram_bytes / 1024:.1f}", str(len(r.host_fallbacks)),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main(sys.argv[1:])
