"""Quant config: YAML loading, overrides, presets, and conflicts with the target."""
import pytest

from quant.constraints import QuantConstraints, TensorRule
from quant.errors import ConfigError
from quant.ir import Graph, Node
from quant.observers import Entropy, MinMax, Percentile
from quant.qconfig import PRESETS, KindConfig, Override, QConfig, load_qconfig, observer_factory, preset, rule_for

CONV1 = Node("layer1.conv1", "Conv", ("x", "w"), ("y",))
FC = Node("fc", "Gemm", ("y", "w2"), ("z",))


def test_yaml_loads_with_overrides(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text(
        "activations: {observer: entropy}\n"
        "overrides:\n"
        "  - {name: 'layer1.*', bits: 4}\n"
        "  - {op_type: Gemm, float: true}\n"
    )
    qc = load_qconfig(p)
    assert qc.activations.observer == "entropy"
    assert qc.settings([CONV1], "weights").bits == 4 and qc.settings([CONV1], "activations").bits == 4
    assert qc.keeps_float(FC) and not qc.keeps_float(CONV1)


def test_later_overrides_win_field_by_field():
    qc = QConfig(overrides=[
        Override(name="layer1.*", weights=KindConfig(bits=4, observer="mse")),
        Override(op_type="Conv", weights=KindConfig(bits=8)),
    ])
    s = qc.settings([CONV1], "weights")
    assert (s.bits, s.observer) == (8, "mse")


def test_override_matches_any_node_of_a_fused_group():
    qc = QConfig(overrides=[Override(op_type="Relu", activations=KindConfig(observer="percentile"))])
    assert qc.settings([CONV1, Node("relu", "Relu", ("y",), ("r",))], "activations").observer == "percentile"


def test_unknown_field_is_an_error_naming_file_and_field(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text("activations: {observr: minmax}\n")
    with pytest.raises(ConfigError, match=r"q.yaml: activations.observr \(line 1\): unknown field"):
        load_qconfig(p)


def test_a_wrong_value_names_its_field_and_line(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text("weights:\n  granularity: per_channel\nactivations:\n  bits: 3\n")
    with pytest.raises(ConfigError, match=r"q.yaml: activations.bits \(line 4\): Input should be 4, 8 or 16"):
        load_qconfig(p)


def test_bad_bits_value(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text("weights: {bits: 6}\n")
    with pytest.raises(ConfigError, match="weights.bits"):
        load_qconfig(p)


def test_override_needs_a_selector():
    with pytest.raises(ValueError, match="needs 'name'"):
        Override(bits=4)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_qconfig(tmp_path / "nope.yaml")


def test_presets():
    assert {"per_channel_int8", "pow2_symmetric", "w4a8"} <= set(PRESETS)
    assert preset("w4a8").weights.bits == 4
    assert load_qconfig("pow2_symmetric").activations.scale == "power_of_two"
    with pytest.raises(ConfigError, match="unknown quant config preset 'nope'"):
        preset("nope")


def test_config_narrows_target_rule():
    rule = rule_for(KindConfig(bits=4, scale="power_of_two"), TensorRule(), "weights", "conv")
    assert (rule.bits, rule.scale) == (4, "power_of_two")


@pytest.mark.parametrize(
    "settings,target,match",
    [
        (KindConfig(granularity="per_channel"), TensorRule(granularity="per_tensor"), "per_channel weights"),
        (KindConfig(bits=16), TensorRule(bits=8), "16-bit weights but the target allows at most 8"),
        (KindConfig(symmetric=False), TensorRule(symmetric=True), "affine weights"),
        (KindConfig(scale="float"), TensorRule(scale="power_of_two"), "float scales"),
    ],
)
def test_constraints_win(settings, target, match):
    with pytest.raises(ConfigError, match=f"node 'conv1': quant config asks for {match}"):
        rule_for(settings, target, "weights", "conv1")


def test_per_channel_activations_rejected():
    with pytest.raises(ConfigError, match="activations are per-tensor"):
        rule_for(KindConfig(granularity="per_channel"), QuantConstraints().activations, "activations", "relu")


def test_selector_matching_nothing_is_an_error():
    g = Graph((CONV1,), (), (), {})
    with pytest.raises(ConfigError, match=r"overrides\[0\] \(name 'layr1.\*'\) selects no node"):
        QConfig(overrides=[Override(name="layr1.*", bits=4)]).check_selectors(g)


def test_observer_factories_not_instances():
    rule = TensorRule(granularity="per_channel")
    f = observer_factory(KindConfig(), rule, axis=0)
    assert f() is not f() and isinstance(f(), MinMax) and f().axis == 0
    assert isinstance(observer_factory(KindConfig(observer="entropy"), rule)(), Entropy)
    p = observer_factory(KindConfig(observer="percentile", percentile=99.9), rule)()
    assert isinstance(p, Percentile) and p.percentile == 99.9
