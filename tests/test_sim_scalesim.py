"""Compute cycles of ResNet-18's convolutions on a 32x32 array agree with SCALE-Sim's, per dataflow.

The reference numbers come from SCALE-Sim 3 itself (tools/scalesim_run.py on tools/resnet18_convs.csv),
stored in tests/fixtures/scalesim_resnet18_32x32.json. Our side compiles the zoo's ResNet-18 for a
target with SCALE-Sim's array and SRAM (three 4 MiB buffers) and the generic target's DRAM, so tiling
and memory are ours, and compares every convolution by its torchvision name.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim.compiler import compile
from test_sim_support import make_target

FIXTURE = Path(__file__).parent / "fixtures" / "scalesim_resnet18_32x32.json"
DATAFLOWS = {"os": "output_stationary", "ws": "weight_stationary", "is": "input_stationary"}

pytestmark = pytest.mark.skipif(
    not FIXTURE.exists(),
    reason=f"{FIXTURE.name} not generated yet: run tools/scalesim_run.py with SCALESIM_PYTHON (see tools/README.md)",
)


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def resnet18():
    from quant import zoo
    from quant.onnx_import import import_model

    return import_model(zoo.resnet18())


def _target(reference: dict, dataflow: str):
    cfg = reference.get("config", {})
    rows, cols = cfg.get("ArrayHeight", 32), cfg.get("ArrayWidth", 32)
    sram_kb = sum(cfg.get(k, 4096) for k in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB"))
    return make_target(rows=rows, cols=cols, dataflow=dataflow, sram=sram_kb * 1024)


@pytest.mark.parametrize("short", list(DATAFLOWS))
def test_resnet18_conv_compute_within_5_percent_of_scalesim(reference, resnet18, short):
    if short not in reference["runs"]:
        pytest.skip(f"fixture has no '{short}' run")
    ours = {layer.name: layer for layer in compile(resnet18, _target(reference, DATAFLOWS[short])).layers}
    refs = reference["runs"][short]["layers"]
    assert len(refs) == 20
    for ref in refs:
        layer = ours[ref["name"]]
        assert (layer.gemm.m, layer.gemm.n, layer.gemm.k) == (ref["M"], ref["N"], ref["K"]), ref["name"]
        assert layer.compute_cycles == pytest.approx(ref["compute_cycles"], rel=0.05), ref["name"]
