"""Compute blocks of a target: the MAC array, the vector unit and the host processor."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hwsim.target.base import Strict
from quant.opset import KNOWN_OPS

Dataflow = Literal["output_stationary", "weight_stationary", "input_stationary"]


class MacArray(Strict):
    """A rows x cols systolic array of multiply-accumulate units."""

    rows: Annotated[int, Field(gt=0, description="Rows of MACs (the reduction dimension K folds over rows for WS/IS).", examples=[32])]
    cols: Annotated[int, Field(gt=0, description="Columns of MACs.", examples=[32])]
    dataflow: Annotated[Dataflow, Field(description="What stays in the PEs while the other operands stream (SCALE-Sim's os/ws/is).")] = (
        "weight_stationary"
    )
    operand_bits: Annotated[int, Field(ge=2, le=32, description="Width of multiplier operands.")] = 8
    accumulator_bits: Annotated[int, Field(ge=8, le=64, description="Width of the accumulator.")] = 32
    depthwise_unit: Annotated[
        Literal["mac_array", "vector"],
        Field(description="Where depthwise convolutions run: on the array (one column per channel group) or the vector unit."),
    ] = "mac_array"


class VectorUnit(Strict):
    """SIMD unit for element-wise ops, pooling and lookup-table activations."""

    lanes: Annotated[int, Field(gt=0, description="Elements processed per cycle.", examples=[64])]
    pipeline_latency_cycles: Annotated[int, Field(ge=0, description="Fixed latency added to every op.")] = 8
    ops: Annotated[
        list[str],
        Field(description="ONNX op types the vector unit runs; anything else not on the MAC array goes to the host."),
    ] = [
        "Add", "Sub", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
        "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Resize", "Upsample", "Pad",
    ]
    lut_ops: Annotated[
        list[str], Field(description="Nonlinear activations computed with a 256-entry lookup table in int8.")
    ] = ["Sigmoid", "HardSigmoid", "HardSwish", "Tanh"]

    @model_validator(mode="after")
    def ops_are_known(self) -> VectorUnit:
        unknown = [op for op in self.ops + self.lut_ops if op not in KNOWN_OPS]
        if unknown:
            raise ValueError(f"vector.ops/lut_ops name unknown op types {unknown}")
        missing = [op for op in self.lut_ops if op not in self.ops]
        if missing:
            raise ValueError(f"vector.lut_ops {missing} must also be listed in vector.ops")
        return self


class Host(Strict):
    """The general-purpose processor that runs what the accelerator cannot (in float)."""

    gflops: Annotated[float, Field(gt=0, description="Sustained float throughput for fallback ops, GFLOP/s.", examples=[10.0])]
    call_overhead_us: Annotated[float, Field(ge=0, description="Fixed cost of handing one op to the host and back, microseconds.")] = 10.0


class Compute(Strict):
    clock_mhz: Annotated[float, Field(gt=0, description="Accelerator clock; cycles convert to time with it.", examples=[1000])]
    mac_array: MacArray
    vector: VectorUnit
    host: Host

    @property
    def macs(self) -> int:
        return self.mac_array.rows * self.mac_array.cols
