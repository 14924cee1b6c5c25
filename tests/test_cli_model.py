"""`hwsim quantize | run | simulate`, and model errors on every verb: one line, exit 2."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from hwsim.cli import main
from hwsim.deployment import EXAMPLE_DIR

MODEL, CALIB, EVAL = (str(EXAMPLE_DIR / f) for f in ("model.onnx", "calib.npz", "eval.npz"))


@pytest.fixture(scope="module")
def qdq_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "digits.qdq.onnx"
    assert main(["quantize", MODEL, "--target", "generic", "--data", CALIB, "-o", str(out)]) == 0
    return out


def save(tmp_path, nodes, inputs, outputs, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_quantized_model_runs_in_onnxruntime(qdq_model):
    x = np.load(EVAL)["x"][:8]
    (logits,) = ort.InferenceSession(str(qdq_model)).run(None, {"x": x})
    assert logits.shape == (8, 10)


def test_quantize_does_not_overwrite_without_force(qdq_model, capsys):
    before = qdq_model.read_bytes()
    assert main(["quantize", MODEL, "--target", "generic", "--data", CALIB, "-o", str(qdq_model)]) == 2
    assert "--force" in capsys.readouterr().err and qdq_model.read_bytes() == before


def test_run_integer_matches_onnxruntime_top1(qdq_model, tmp_path):
    out = tmp_path / "out.npz"
    assert main(["run", str(qdq_model), "--target", "generic", "--data", EVAL, "-o", str(out)]) == 0
    ours = np.load(out)["logits"]
    (theirs,) = ort.InferenceSession(str(qdq_model)).run(None, {"x": np.load(EVAL)["x"]})
    assert np.mean(ours.argmax(1) == theirs.argmax(1)) >= 0.998


def test_run_float_model_gives_float_outputs(tmp_path):
    out = tmp_path / "out.npz"
    assert main(["run", MODEL, "--data", EVAL, "-o", str(out)]) == 0
    assert np.mean(np.load(out)["logits"].argmax(1) == np.load(EVAL)["y"]) == pytest.approx(0.994)


def test_simulate_writes_report_and_trace(qdq_model, tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", str(qdq_model), "--target", "generic", "--data", EVAL, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["total_cycles"] > 0 and report["accuracy"]["samples"] == 500
    assert json.loads((out / "trace.json").read_text())["traceEvents"]


def test_unsupported_ops_are_listed_in_one_line(tmp_path, capsys):
    v = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4, 4])  # noqa: E731
    path = save(tmp_path, [helper.make_node("Hardmax", ["x"], ["a"], name="hm"), helper.make_node("Relu", ["a"], ["y"], name="r")],
                [v("x")], [v("y")])
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 4, 4), np.float32))
    assert main(["deploy", path, "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Hardmax (node 'hm')" in err


def test_symbolic_dim_asks_for_input_shape(tmp_path, capsys):
    v = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", 4])  # noqa: E731
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")], [v("x")], [v("y")])
    np.savez(tmp_path / "d.npz", x=np.ones((2, 3, 5, 4), np.float32))
    assert main(["deploy", path, "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_input_shape_override_makes_symbolic_model_deployable(tmp_path):
    v = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", 4])  # noqa: E731
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")], [v("x")], [v("y")])
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((3, 3, 5, 4), dtype=np.float32))
    code = main(["deploy", path, "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"), "--quiet",
                 "--input-shape", "x=1x3x5x4"])
    assert code == 0
    assert json.loads((tmp_path / "r" / "report.json").read_text())["accuracy"]["samples"] == 3


def test_input_shape_with_a_named_batch_keeps_every_sample(tmp_path):
    v = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", 4])  # noqa: E731
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")], [v("x")], [v("y")])
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((3, 3, 5, 4), dtype=np.float32))
    assert main(["deploy", path, "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"), "--quiet",
                 "--input-shape", "x=Nx3x5x4"]) == 0
    assert json.loads((tmp_path / "r" / "report.json").read_text())["accuracy"]["samples"] == 3


def test_malformed_input_shape_is_one_line_error(tmp_path, capsys):
    assert main(["deploy", MODEL, "--data", CALIB, "--out", str(tmp_path / "r"), "--input-shape", "x=1xthree"]) == 2
    assert "x=1x3x224x224" in capsys.readouterr().err


def test_not_an_onnx_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_text("hello")
    assert main(["quantize", str(bad), "--target", "generic", "--data", CALIB, "-o", str(tmp_path / "q.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.onnx" in err


def test_unknown_target_is_one_line_error(tmp_path, capsys):
    assert main(["simulate", MODEL, "--target", "nosuch", "--out", str(tmp_path / "s")]) == 2
    assert "target 'nosuch' not found" in capsys.readouterr().err


def test_bad_quant_config_field_names_the_file_and_field(tmp_path, capsys):
    cfg = tmp_path / "qc.yaml"
    cfg.write_text('overrides:\n  - {name: "conv*", bitz: 4}\n')
    assert main(["deploy", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "qc.yaml" in err and "bitz" in err and not (tmp_path / "r").exists()


def test_bias_correction_flag_adjusts_biases(tmp_path):
    out = tmp_path / "r"
    assert main(["deploy", "--target", "tda4vm", "--config", "w4a8", "--bias-correction", "--out", str(out), "--quiet"]) == 0
    notes = json.loads((out / "report.json").read_text())["quantization"]["notes"]
    assert any(n.startswith("bias correction: ") and not n.startswith("bias correction: 0 ") for n in notes)


def test_readme_quant_config_example_runs(tmp_path):
    out = tmp_path / "r"
    assert main(["deploy", "--config", str(EXAMPLE_DIR / "quant.yaml"), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["quantization"]["float_nodes"] == ["fc"]
    assert any(h.startswith("fc (Gemm)") for h in report["host_fallbacks"])


def test_deploy_without_eval_data_warns_that_accuracy_is_on_calibration_data(tmp_path):
    assert main(["deploy", MODEL, "--data", CALIB, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    warnings = json.loads((tmp_path / "r" / "report.json").read_text())["warnings"]
    assert any("calibration samples" in w for w in warnings)


def test_hwsim_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("hwsim 0.")
