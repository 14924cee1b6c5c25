"""The Target schema: types, ranges and the cross-field rules hardware implies."""
import copy

import pytest
from pydantic import ValidationError

from hwsim.target import Target, load

BASE = load("generic").model_dump(mode="json")


def variant(**paths):
    """BASE with dotted-path fields replaced, e.g. variant(**{"compute.clock_mhz": 1})."""
    d = copy.deepcopy(BASE)
    for path, value in paths.items():
        *parents, leaf = path.split(".")
        node = d
        for p in parents:
            node = node[p]
        node[leaf] = value
    return d


def error_text(data) -> str:
    with pytest.raises(ValidationError) as e:
        Target.model_validate(data)
    return str(e.value)


def test_generic_target_round_trips():
    assert Target.model_validate(BASE) == load("generic")


def test_unknown_field_is_rejected():
    assert "Extra inputs are not permitted" in error_text(variant(**{"compute.mac_array.colz": 3}))


def test_negative_size_is_rejected():
    assert "greater than 0" in error_text(variant(**{"memory.sram.size_bytes": -1}))


def test_zero_clock_is_rejected():
    assert "greater than 0" in error_text(variant(**{"compute.clock_mhz": 0}))


def test_dram_efficiency_above_one_is_rejected():
    assert "less than or equal to 1" in error_text(variant(**{"memory.dram.efficiency": 1.5}))


def test_wrong_type_is_rejected():
    assert "valid integer" in error_text(variant(**{"compute.mac_array.rows": "many"}))


def test_unknown_dataflow_is_rejected():
    assert "output_stationary" in error_text(variant(**{"compute.mac_array.dataflow": "row_stationary"}))


def test_shift_requantization_requires_power_of_two_scales():
    text = error_text(variant(**{"quantization.requantization.mode": "shift"}))
    assert "needs power_of_two scales" in text


def test_shift_requantization_with_pow2_scales_is_valid():
    d = variant(**{"quantization.requantization.mode": "shift"})
    d["quantization"]["weights"]["scale"] = "power_of_two"
    d["quantization"]["activations"]["scale"] = "power_of_two"
    assert Target.model_validate(d).quantization.requantization.mode == "shift"


def test_fused_pattern_must_name_known_ops():
    text = error_text(variant(**{"quantization.fused_patterns": [{"pattern": ["Conv", "Frobnicate"]}]}))
    assert "Frobnicate" in text


def test_float_ops_must_be_known():
    assert "Softmaxx" in error_text(variant(**{"quantization.float_ops": ["Softmaxx"]}))


def test_shift_range_must_be_ordered():
    d = variant(**{"quantization.requantization.shift_min": 9, "quantization.requantization.shift_max": 3})
    assert "shift_min" in error_text(d)


def test_add_shift_limit_requires_pow2_activations():
    assert "add_max_shift_diff_bits" in error_text(variant(**{"quantization.add_max_shift_diff_bits": 2}))


def test_quantized_bits_must_fit_operand_width():
    d = variant(**{"quantization.weights.bits": 16})
    assert "operand_bits" in error_text(d)


def test_vector_lut_ops_must_be_vector_ops():
    d = variant(**{"compute.vector.ops": ["Add"], "compute.vector.lut_ops": ["Sigmoid"]})
    assert "lut_ops" in error_text(d)


def test_depthwise_on_vector_needs_conv_on_vector():
    assert "depthwise_unit" in error_text(variant(**{"compute.mac_array.depthwise_unit": "vector"}))


def test_source_must_name_a_real_field():
    d = variant(sources=[{"field": "compute.clock_ghz", "document": "datasheet"}])
    assert "compute.clock_ghz" in error_text(d)


def test_source_may_name_a_nested_field():
    d = variant(sources=[{"field": "memory.dram.bandwidth_gb_per_s", "document": "datasheet", "confidence": "estimate"}])
    assert Target.model_validate(d).sources[0].confidence == "estimate"


def test_loaded_target_is_frozen():
    with pytest.raises(ValidationError):
        load("generic").compute.clock_mhz = 1
