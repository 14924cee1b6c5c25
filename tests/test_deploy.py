"""`hwsim deploy` on the bundled example: the report files, their schema, and the safety rules."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.deployment import EXAMPLE_DIR
from hwsim.report.model import DeployReport


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "report"
    assert main(["deploy", "--out", str(out), "--quiet", "--sensitivity"]) == 0
    return out


def test_deploy_writes_the_four_files(report_dir):
    assert sorted(p.name for p in report_dir.iterdir()) == ["report.html", "report.json", "report.md", "trace.json"]


def test_report_json_validates_against_the_report_model(report_dir):
    report = DeployReport.model_validate_json((report_dir / "report.json").read_text())
    assert report.report_version == 1 and report.target.name == "generic"


def test_report_json_has_the_fields_scripts_rely_on(report_dir):
    latency = json.loads((report_dir / "report.json").read_text())["latency"]
    assert latency["total_cycles"] > 0 and latency["latency_ms"] > 0
    for layer in latency["layers"]:
        for key in ("name", "op_type", "unit", "cycles", "compute_cycles", "stall_cycles", "dram_bytes_read",
                    "dram_bytes_written", "mac_utilization"):
            assert key in layer


def test_bundled_example_keeps_its_accuracy_in_int8(report_dir):
    acc = DeployReport.model_validate_json((report_dir / "report.json").read_text()).accuracy
    assert acc.metric == "top1" and acc.samples == 500
    assert acc.float_top1 == pytest.approx(0.994)
    assert acc.float_top1 - acc.integer_top1 <= 0.005


def test_sensitivity_ranks_every_mac_layer(report_dir):
    report = DeployReport.model_validate_json((report_dir / "report.json").read_text())
    assert sorted(s.layer for s in report.sensitivity) == ["conv1", "conv2", "dwconv", "fc", "pwconv"]


def test_report_json_is_deterministic(report_dir, tmp_path):
    assert main(["deploy", "--out", str(tmp_path / "again"), "--quiet", "--sensitivity"]) == 0
    assert (tmp_path / "again" / "report.json").read_text() == (report_dir / "report.json").read_text()


def test_trace_is_chrome_trace_format(report_dir):
    trace = json.loads((report_dir / "trace.json").read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert events and all({"name", "ts", "dur", "pid", "tid"} <= e.keys() for e in events)


def test_existing_report_dir_is_not_overwritten(report_dir, capsys):
    before = (report_dir / "report.json").read_text()
    assert main(["deploy", "--out", str(report_dir), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (report_dir / "report.json").read_text() == before


def test_force_replaces_the_report_dir(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.md").write_text("stale")
    assert main(["deploy", "--out", str(out), "--quiet", "--force"]) == 0
    assert (out / "report.md").read_text() != "stale" and (out / "report.json").exists()


def test_nan_calibration_data_is_one_line_error(tmp_path, capsys):
    data = dict(np.load(EXAMPLE_DIR / "calib.npz"))
    data["x"][3, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **data)
    code = main(["deploy", str(EXAMPLE_DIR / "model.onnx"), "--data", str(tmp_path / "nan.npz"), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "NaN" in err and "nan.npz" in err
    assert not (tmp_path / "r").exists()


def test_data_with_wrong_input_name_is_one_line_error(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 1, 8, 8), np.float32))
    code = main(["deploy", str(EXAMPLE_DIR / "model.onnx"), "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "no array for model input 'x'" in err


def test_data_with_wrong_shape_is_one_line_error(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 1, 9, 8), np.float32))
    code = main(["deploy", str(EXAMPLE_DIR / "model.onnx"), "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r")])
    assert code == 2 and "(4, 1, 9, 8)" in capsys.readouterr().err


def test_empty_data_is_one_line_error(tmp_path, capsys):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 1, 8, 8), np.float32))
    code = main(["deploy", str(EXAMPLE_DIR / "model.onnx"), "--data", str(tmp_path / "empty.npz"), "--out", str(tmp_path / "r")])
    assert code == 2 and "empty" in capsys.readouterr().err


def test_missing_model_file_is_one_line_error(tmp_path, capsys):
    code = main(["deploy", str(tmp_path / "nope.onnx"), "--data", str(EXAMPLE_DIR / "calib.npz"), "--out", str(tmp_path / "r")])
    assert code == 2 and "nope.onnx" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium (Debian package 'chromium') is not installed")
def test_report_html_renders_in_headless_chromium(report_dir, tmp_path):
    shot = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2000", f"--screenshot={shot}",
           (report_dir / "report.html").as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # a blank page compresses to almost nothing; charts and tables do not
    assert len(png) > 20_000


def test_layer_sqnr_includes_the_model_output(report_dir):
    report = DeployReport.model_validate_json((report_dir / "report.json").read_text())
    assert report.layer_sqnr[-1].tensor == "logits" and report.layer_sqnr[-1].sqnr_db > 20


def test_bundled_example_has_no_constraint_violations_on_generic(report_dir):
    assert DeployReport.model_validate_json((report_dir / "report.json").read_text()).quantization.violations == []


def test_python_api_deploys_again_in_the_same_process():
    import hwsim
    from hwsim.deployment import Deployment  # noqa: F401  (importing the module must not shadow the function)

    first, second = hwsim.deploy(), hwsim.deploy()
    assert isinstance(second, DeployReport) and first.latency.total_cycles == second.latency.total_cycles


def test_layer_sqnr_of_the_output_is_the_accuracy_tables_sqnr(report_dir):
    report = DeployReport.model_validate_json((report_dir / "report.json").read_text())
    assert abs(report.layer_sqnr[-1].sqnr_db - report.accuracy.integer_sqnr_db) < 0.1


def test_a_collapsed_fidelity_is_a_warning_even_without_labels():
    from hwsim.deployment import _accuracy_warnings
    from hwsim.report.model import Accuracy

    collapsed = Accuracy(metric="fidelity", samples=8, data="d.npz", integer_sqnr_db=-0.5, integer_top1_agreement=0.0)
    assert len(_accuracy_warnings(collapsed)) == 2


def test_the_terminal_summary_lists_three_fallbacks_and_counts_the_rest(report_dir):
    from hwsim.report.markdown import summary

    report = DeployReport.model_validate_json((report_dir / "report.json").read_text())
    many = report.model_copy(update={"host_fallbacks": [f"n{i} (Softmax): not on the accelerator" for i in range(47)]})
    host = next(line for line in summary(many).splitlines() if line.strip().startswith("host:"))
    assert "47 fallback(s)" in host and "n2 (" in host and "n3 (" not in host and "44 more" in host
