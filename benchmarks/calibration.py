"""Calibration speed: hwsim's quantizer vs onnxruntime.quantization.quantize_static, same run.

Model: quant.zoo.resnet18 at 224x224; data: 32 seeded random images in 4 batches of 8, the same
for both. Methods: min/max and entropy (onnxruntime: CalibrationMethod.MinMax / Entropy, QDQ
format, per-channel int8 weights, int8 activations). Each side is timed end to end, ONNX model in ->
QDQ model file out; onnxruntime's time includes ``quant_pre_process`` (its BatchNormalization
folding, as ours includes ``fold_batchnorm``). onnxruntime's entropy calibrator defaults to a
128-bin histogram quantized to 128 bins, which leaves its KL search a single candidate (the full
range, i.e. min/max); the TensorRT method (ours) uses 2048 bins. ``quantize_static`` does not pass
a bin count to its calibrator (onnxruntime 1.32 forwards only five ``Calib*`` keys), so the third
row builds onnxruntime's calibrator itself with ``create_calibrator(..., extra_options={"num_bins":
2048})`` and hands its ranges to ``quantize_static`` as a calibration cache, all inside the timing.
Also printed: each QDQ model's SQNR against the float model on held-out images
(both QDQ models run in onnxruntime).

OpenBLAS threads default to 1 here (set OPENBLAS_NUM_THREADS to override): on small shared
machines its thread pool makes numpy's float32 GEMMs several times slower.

Run: python benchmarks/calibration.py
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, create_calibrator, quantize_static,
)
from onnxruntime.quantization.calibrate import save_tensors_data  # noqa: E402
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry  # noqa: E402
from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from quant import zoo  # noqa: E402
from quant.constraints import FusionRule, QuantConstraints  # noqa: E402
from quant.onnx_import import import_model  # noqa: E402
from quant.ptq import quantize  # noqa: E402
from quant.qconfig import PRESETS  # noqa: E402
from quant.qdq_export import save  # noqa: E402

SIDE, IMAGES, BATCH = 224, 32, 8
# Conv+ReLU and Add+ReLU fused, as onnxruntime's QDQ quantizer drops a ReLU behind a quantized op.
CONSTRAINTS = QuantConstraints(fused_patterns=[FusionRule(pattern=["Conv", "Relu"]), FusionRule(pattern=["Add", "Relu"])])


class _Reader(CalibrationDataReader):
    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self.it = iter(batches)

    def get_next(self):
        return next(self.it, None)


def _ours(model: onnx.ModelProto, batches, preset: str, out: Path) -> float:
    t = time.perf_counter()
    result = quantize(import_model(model), CONSTRAINTS, batches, PRESETS[preset])
    save(result.graph, out)
    return time.perf_counter() - t


def _ort(src: Path, batches, method: CalibrationMethod, out: Path, num_bins: int | None) -> float:
    t = time.perf_counter()
    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    reader, cache = _Reader(batches), None
    if num_bins is not None:  # calibrate as quantize_static would, with the bin count it cannot pass on
        op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))  # quantize_static's default
        calibrator = create_calibrator(pre, op_types, augmented_model_path=str(out.with_suffix(".aug.onnx")),
                                       calibrate_method=method, extra_options={"num_bins": num_bins})
        calibrator.collect_data(reader)
        cache, reader = out.with_suffix(".ranges.json"), None
        save_tensors_data(calibrator.compute_data(), cache)
    quantize_static(
        str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=method,
        calibration_cache_path=cache,
    )
    return time.perf_counter() - t


def _sqnr_db(model: Path, ref: np.ndarray, x: np.ndarray) -> float:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((ref - y).astype(np.float64) ** 2), 1e-30)))


def main() -> None:
    rng = np.random.default_rng(0)
    model = zoo.resnet18(SIDE)
    batches = [{"x": rng.standard_normal((BATCH, 3, SIDE, SIDE)).astype(np.float32)} for _ in range(IMAGES // BATCH)]
    x_eval = rng.standard_normal((4, 3, SIDE, SIDE)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "resnet18.onnx"
        onnx.save(model, str(src))
        ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"x": x_eval})[0]
        cases = (("minmax", "default", CalibrationMethod.MinMax, None),
                 ("entropy", "entropy", CalibrationMethod.Entropy, None),
                 ("entropy, ort 2048 bins", "entropy", CalibrationMethod.Entropy, 2048))
        for i, (label, preset, method, num_bins) in enumerate(cases):
            ours_path, ort_path = Path(tmp) / f"ours_{i}.onnx", Path(tmp) / f"ort_{i}.onnx"
            t_ours = _ours(model, batches, preset, ours_path)
            t_ort = _ort(src, batches, method, ort_path, num_bins)
            rows.append((label, t_ours, t_ort, _sqnr_db(ours_path, ref, x_eval), _sqnr_db(ort_path, ref, x_eval)))
    print(f"resnet18 {SIDE}x{SIDE}, {IMAGES} random images in batches of {BATCH}, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, onnxruntime {ort.__version__}")
    print(f"{'method':<24} {'hwsim s':>8} {'ort s':>8} {'hwsim/ort':>9} {'SQNR hwsim dB':>14} {'SQNR ort dB':>12}")
    for label, a, b, sa, sb in rows:
        print(f"{label:<24} {a:8.2f} {b:8.2f} {a / b:9.2f} {sa:14.2f} {sb:12.2f}")


if __name__ == "__main__":
    main()
