"""The deployment report: a versioned pydantic model, the machine-readable truth behind every rendering."""
from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hwsim.sim.report import SimReport

REPORT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRef(_Model):
    path: Annotated[str, Field(description="Path as given.")]
    sha256: Annotated[str, Field(description="SHA-256 of the file's bytes.")]


class ModelInfo(FileRef):
    nodes: Annotated[int, Field(description="ONNX nodes after import (Identity/Dropout/Constant removed).")]
    op_counts: Annotated[dict[str, int], Field(description="Op type -> number of nodes.")]


class TargetInfo(FileRef):
    name: Annotated[str, Field(description="Target name.")]
    summary: Annotated[str, Field(description="Quantization summary, e.g. 'w8pc a8asym fixed_point'.")]
    macs: Annotated[int, Field(description="MAC units in the array.")]
    clock_mhz: Annotated[float, Field(description="Accelerator clock.")]


class TensorRow(_Model):
    name: str
    kind: Annotated[str, Field(description="activation, weight, bias or constant.")]
    node: Annotated[str, Field(description="Node (or first node of the fused group) the tensor belongs to.")]
    bits: int
    dtype: str
    scale: Annotated[float | list[float], Field(description="Scale, or one per channel.")]
    zero_point: Annotated[int | list[int], Field(description="Zero point, or one per channel.")]
    pow2: Annotated[bool, Field(description="Every scale is a power of two.")]
    per_channel: bool


class ViolationRow(_Model):
    node: str
    tensor: str
    rule: str
    message: str


class Quantization(_Model):
    tensors: Annotated[list[TensorRow], Field(description="Every quantized tensor.")]
    violations: Annotated[list[ViolationRow], Field(description="Where the QDQ model breaks the target's rules.")]
    float_nodes: Annotated[list[str], Field(description="Nodes left float by the quant config (run on the host).")]
    notes: Annotated[list[str], Field(description="What the quantizer did beyond the defaults.")]


class Accuracy(_Model):
    metric: Annotated[Literal["top1", "fidelity"], Field(description="top1 with labels; fidelity against the float model otherwise.")]
    samples: Annotated[int, Field(description="Evaluation samples.")]
    data: Annotated[str, Field(description="Evaluation data file.")]
    float_top1: Annotated[float | None, Field(description="Float model top-1 (with labels).")] = None
    fake_quant_top1: Annotated[float | None, Field(description="Fake-quant (QDQ in float) top-1.")] = None
    integer_top1: Annotated[float | None, Field(description="Bit-exact integer execution top-1.")] = None
    fake_quant_sqnr_db: Annotated[float | None, Field(description="SQNR of fake-quant outputs vs float (None = identical).")] = None
    integer_sqnr_db: Annotated[float | None, Field(description="SQNR of integer outputs vs float (None = identical).")] = None
    integer_top1_agreement: Annotated[float, Field(description="Fraction of samples whose integer top-1 equals the float top-1.")]


class LayerSqnr(_Model):
    tensor: Annotated[str, Field(description="Activation tensor (output of a layer or fused group).")]
    node: Annotated[str, Field(description="Node producing it.")]
    sqnr_db: Annotated[float | None, Field(description="Float vs integer (dequantized) activations; None = identical.")]


class Sensitivity(_Model):
    layer: Annotated[str, Field(description="Node (first of its fused group).")]
    only_this_float_sqnr_db: Annotated[float | None, Field(description="Output SQNR vs float with every layer quantized except this one.")]
    only_this_quantized_sqnr_db: Annotated[float | None, Field(description="Output SQNR vs float with only this layer quantized.")]


class Memory(_Model):
    weight_bytes: int
    peak_sram_bytes: int
    sram_size_bytes: int
    dram_bytes_read: int
    dram_bytes_written: int


class DeployReport(_Model):
    """Everything `hwsim deploy` learned about one model on one target."""

    report_version: Annotated[int, Field(description="Layout version of this report.")] = REPORT_VERSION
    tool: Annotated[str, Field(description="hwsim version that wrote it.")]
    model: ModelInfo
    target: TargetInfo
    quantization: Quantization
    accuracy: Accuracy
    layer_sqnr: Annotated[list[LayerSqnr], Field(description="Per-layer SQNR between float and integer activations, over every evaluation sample.")]
    sensitivity: Annotated[list[Sensitivity], Field(description="Which layer hurts: ranked, worst first, on the first 64 evaluation samples (empty when not run).")]
    memory: Memory
    latency: Annotated[SimReport, Field(description="The simulation report (cycles, per-layer timing, units).")]
    host_fallbacks: Annotated[list[str], Field(description="Layers that run on the host, with why.")]
    warnings: Annotated[list[str], Field(description="Things the user should look at.")]

    def to_json(self) -> str:
        """Sorted keys and fixed float formatting: the same input gives the same bytes."""
        return json.dumps(_stable(self.model_dump(mode="json")), sort_keys=True, indent=1) + "\n"


def _stable(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}") if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _stable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_stable(v) for v in x]
    return x
