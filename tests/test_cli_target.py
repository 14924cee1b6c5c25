"""`hwsim target ...`: exit codes and one-line errors."""
import json

from hwsim.cli import main


def test_target_list_prints_every_target(capsys):
    assert main(["target", "list"]) == 0
    out = capsys.readouterr().out
    assert "generic" in out and "MACs" in out


def test_target_show_prints_resolved_yaml(capsys):
    assert main(["target", "show", "generic"]) == 0
    assert "clock_mhz: 500.0" in capsys.readouterr().out


def test_target_schema_is_json(capsys):
    assert main(["target", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "hwsim target"


def test_target_validate_bad_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncompute: {clock_mhz: -1}\n")
    assert main(["target", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml" in err and "compute.clock_mhz" in err


def test_target_validate_good_file(capsys):
    assert main(["target", "validate", "generic"]) == 0
    assert "ok" in capsys.readouterr().out


def test_a_cross_field_rule_names_the_field_and_line_to_change(tmp_path, capsys):
    bad = tmp_path / "w16.yaml"
    bad.write_text("inherit: generic\nname: w16\nquantization:\n  weights: {bits: 16}\n")
    assert main(["target", "validate", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"hwsim: error: {bad}: quantization.weights.bits (line 4): 16-bit values")
