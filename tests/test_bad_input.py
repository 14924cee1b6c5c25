"""Bad input anywhere on the command line: one line on stderr, exit 2, nothing half-written."""
import numpy as np
import pytest

from hwsim.cli import main
from hwsim.deployment import EXAMPLE_DIR

MODEL, CALIB, EVAL = (str(EXAMPLE_DIR / f) for f in ("model.onnx", "calib.npz", "eval.npz"))


def deploy_with_eval(tmp_path, capsys, **arrays):
    np.savez(tmp_path / "e.npz", **arrays)
    code = main(["deploy", MODEL, "--data", CALIB, "--eval", str(tmp_path / "e.npz"), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "r").exists()
    return err


def x(n=4):
    return np.random.default_rng(0).random((n, 1, 8, 8), dtype=np.float32)


def test_string_data_is_rejected(tmp_path, capsys):
    assert "dtype" in deploy_with_eval(tmp_path, capsys, x=np.full((4, 1, 8, 8), "a"))


def test_values_overflowing_float32_are_rejected(tmp_path, capsys):
    assert "NaN/Inf" in deploy_with_eval(tmp_path, capsys, x=x().astype(np.float64) * 1e300)


def test_negative_labels_are_rejected(tmp_path, capsys):
    assert "negative" in deploy_with_eval(tmp_path, capsys, x=x(), y=np.array([0, -1, 2, 3]))


def test_labels_beyond_the_class_count_are_rejected(tmp_path, capsys):
    assert "class label 10" in deploy_with_eval(tmp_path, capsys, x=x(), y=np.array([0, 1, 10, 3]))


def test_labels_of_wrong_length_are_rejected(tmp_path, capsys):
    assert "one per sample" in deploy_with_eval(tmp_path, capsys, x=x(), y=np.array([0, 1]))


def test_output_file_in_missing_folder(tmp_path, capsys):
    assert main(["run", MODEL, "--data", EVAL, "-o", str(tmp_path / "nodir" / "o.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_output_file_that_is_a_directory(tmp_path, capsys):
    assert main(["run", MODEL, "--data", EVAL, "-o", str(tmp_path), "--force"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.tmp"))


def test_simulate_with_data_needs_a_quantized_model(tmp_path, capsys):
    assert main(["simulate", MODEL, "--target", "generic", "--data", EVAL, "--out", str(tmp_path / "s")]) == 2
    assert "hwsim quantize" in capsys.readouterr().err


def test_run_warns_that_target_is_ignored_for_a_float_model(tmp_path, capsys):
    assert main(["run", MODEL, "--target", "generic", "--data", EVAL, "-o", str(tmp_path / "o.npz")]) == 0
    assert "--target is ignored" in capsys.readouterr().err


def test_binary_target_file(tmp_path, capsys):
    (tmp_path / "t.yaml").write_bytes(b"\x00\xff\xfe")
    assert main(["target", "validate", str(tmp_path / "t.yaml")]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_unknown_preset_lists_presets(tmp_path, capsys):
    assert main(["deploy", "--config", "nosuchpreset", "--out", str(tmp_path / "r")]) == 2
    assert "per_channel_int8" in capsys.readouterr().err


@pytest.mark.parametrize("force", [False, True])
def test_deploy_into_a_file_path(tmp_path, capsys, force):
    (tmp_path / "f").write_text("mine")
    assert main(["deploy", "--out", str(tmp_path / "f"), "--quiet"] + (["--force"] if force else [])) == 2
    assert (tmp_path / "f").read_text() == "mine"


def test_simulate_batch_below_one_names_the_flag(tmp_path, capsys):
    assert main(["simulate", MODEL, "--target", "generic", "--batch", "0", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith("hwsim: error: --batch 0:")
    assert not (tmp_path / "r").exists()


def _deploy_data_file(tmp_path, capsys, path):
    code = main(["deploy", MODEL, "--data", str(path), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "r").exists()
    return err


def test_a_bare_npy_array_asks_for_an_npz(tmp_path, capsys):
    np.save(tmp_path / "calib.npy", x())
    assert "numpy.savez" in _deploy_data_file(tmp_path, capsys, tmp_path / "calib.npy")


def test_a_text_file_as_data_is_not_called_pickled(tmp_path, capsys):
    (tmp_path / "calib.npz").write_text("x,y\n1,2\n")
    err = _deploy_data_file(tmp_path, capsys, tmp_path / "calib.npz")
    assert "not an .npz file" in err and "pickle" not in err
