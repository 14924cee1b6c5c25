"""Target files: bundled ones validate; bad files give one line naming file, field and line."""
import json
from pathlib import Path

import pytest

from hwsim.errors import TargetError
from hwsim.target import load, target_names, targets_dir
from hwsim.target.schema import schema_json

GENERIC = (Path(targets_dir()) / "generic.yaml").read_text()


@pytest.mark.parametrize("name", target_names())
def test_bundled_target_validates(name):
    assert load(name).name == name


def test_every_bundled_target_names_its_sources():
    for name in target_names():
        assert load(name).sources, f"{name} has no sources"


def test_committed_schema_matches_the_models():
    committed = (Path(targets_dir()) / "schema.json").read_text()
    assert committed == schema_json(), "run: python tools/gen_target_docs.py"


def test_committed_reference_doc_matches_the_models():
    from hwsim.target.schema import reference_markdown

    doc = Path(targets_dir()).parent / "docs" / "targets.md"
    assert doc.read_text() == reference_markdown(), "run: python tools/gen_target_docs.py"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = write(tmp_path, "bad.yaml", "name: x\ncompute: [1,\n  memory: {\n")
    with pytest.raises(TargetError, match=r"bad\.yaml: line \d+, column \d+: YAML syntax error"):
        load(p)


def test_unknown_field_names_path_and_line(tmp_path):
    p = write(tmp_path, "t.yaml", GENERIC.replace("lanes: 16", "lanes: 16, lanez: 3"))
    with pytest.raises(TargetError, match=r"t\.yaml: compute\.vector\.lanez \(line \d+\): unknown field"):
        load(p)


def test_wrong_type_names_the_field(tmp_path):
    p = write(tmp_path, "t.yaml", GENERIC.replace("clock_mhz: 500", "clock_mhz: fast"))
    with pytest.raises(TargetError, match=r"compute\.clock_mhz \(line 5\): Input should be a valid number"):
        load(p)


def test_negative_size_names_the_field(tmp_path):
    p = write(tmp_path, "t.yaml", GENERIC.replace("size_bytes: 262144", "size_bytes: -4"))
    with pytest.raises(TargetError, match=r"memory\.sram\.size_bytes .*greater than 0"):
        load(p)


def test_error_is_one_line(tmp_path):
    p = write(tmp_path, "t.yaml", "name: t\n")
    with pytest.raises(TargetError) as e:
        load(p)
    assert "\n" not in str(e.value)


def test_inherit_overrides_only_named_fields(tmp_path):
    write(tmp_path, "base.yaml", GENERIC.replace("name: generic", "name: base"))
    p = write(tmp_path, "child.yaml", "inherit: base\nname: child\ncompute:\n  mac_array: {rows: 8, cols: 8}\n")
    t = load(p)
    assert (t.name, t.compute.mac_array.rows, t.compute.clock_mhz) == ("child", 8, 500)
    assert t.compute.mac_array.dataflow == "weight_stationary"


def test_inherit_keeps_base_sources_and_adds_own(tmp_path):
    write(tmp_path, "base.yaml", GENERIC.replace("name: generic", "name: base"))
    p = write(tmp_path, "child.yaml", "inherit: base\nname: child\nsources:\n  - {field: name, document: mine}\n")
    assert [s.document for s in load(p).sources] == ["hwsim's own choice", "mine"]


def test_inherit_cycle_is_reported(tmp_path):
    write(tmp_path, "a.yaml", "inherit: b\nname: a\n")
    p = write(tmp_path, "b.yaml", "inherit: a\nname: b\n")
    with pytest.raises(TargetError, match="inherit: cycle"):
        load(p)


def test_missing_base_is_reported(tmp_path):
    p = write(tmp_path, "c.yaml", "inherit: nosuchbase\nname: c\n")
    with pytest.raises(TargetError, match=r"c\.yaml: inherit: base target 'nosuchbase' not found"):
        load(p)


def test_unknown_target_name_lists_known_ones():
    with pytest.raises(TargetError, match="known targets: .*generic"):
        load("no-such-target")


def test_json_target_is_accepted(tmp_path):
    p = write(tmp_path, "t.json", json.dumps(load("generic").model_dump(mode="json")))
    assert load(p).name == "generic"


def test_inherit_replaces_base_source_for_a_restated_field(tmp_path):
    write(tmp_path, "base.yaml", GENERIC.replace("name: generic", "name: base"))
    p = write(tmp_path, "child.yaml", 'inherit: base\nname: child\nsources:\n  - {field: "*", document: mine}\n')
    assert [s.document for s in load(p).sources] == ["mine"]
