"""Quantization constraints: what integer hardware allows, stated without naming any hardware.

A target file fills these in (hwsim embeds ``QuantConstraints`` in its ``Target``); the quantizer
obeys them and the integer executor computes with them.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quant.opset import KNOWN_OPS

RoundingName = Literal["half_even", "half_away", "half_up"]
_ROUNDING_DOC = "half_even: ties to even (ONNX, numpy); half_away: ties away from zero (std::round); half_up: ties toward +inf (floor(x + 0.5))"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorRule(_Model):
    """How one kind of tensor (weights or activations) is quantized."""

    bits: Annotated[int, Field(ge=2, le=16, description="Bit width of the integer values.", examples=[8, 4])] = 8
    signedness: Annotated[
        Literal["signed", "unsigned", "auto"],
        Field(description="auto: unsigned where the tensor is non-negative (after ReLU), signed elsewhere."),
    ] = "signed"
    symmetric: Annotated[bool, Field(description="Zero point fixed at 0 (symmetric) or free (affine).")] = True
    granularity: Annotated[
        Literal["per_tensor", "per_channel"],
        Field(description="One scale per tensor, or one per output channel (weights only)."),
    ] = "per_tensor"
    scale: Annotated[
        Literal["float", "power_of_two"],
        Field(description="float: any positive scale; power_of_two: scale = 2^-n so requantization is a shift."),
    ] = "float"
    narrow_range: Annotated[
        bool, Field(description="Drop the most negative code (int8 [-127, 127]), as TFLite weights do.")
    ] = False

    @property
    def qmin_qmax_signed(self) -> tuple[int, int]:
        lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return (lo + 1 if self.narrow_range else lo), hi


class Requantization(_Model):
    """How an int32 accumulator is scaled back to the output's integer grid."""

    mode: Annotated[
        Literal["float", "fixed_point", "shift"],
        Field(
            description="float: float multiply then round (onnxruntime); fixed_point: integer multiplier and "
            "shift (TFLite/gemmlowp); shift: arithmetic right shift only (power-of-two scales)."
        ),
    ] = "float"
    multiplier_bits: Annotated[
        int, Field(ge=8, le=32, description="fixed_point: width of the integer multiplier (32 = Q31 as in TFLite).")
    ] = 32
    double_rounding: Annotated[
        bool,
        Field(description="fixed_point: gemmlowp's two roundings (SRDHM then RoundingDivideByPOT) instead of one."),
    ] = True
    shift_min: Annotated[int, Field(description="shift: smallest right shift the hardware supports.")] = 0
    shift_max: Annotated[int, Field(description="shift: largest right shift the hardware supports.")] = 31
    rounding: Annotated[RoundingName, Field(description="Tie rule of the requantize step. " + _ROUNDING_DOC)] = (
        "half_even"
    )

    @model_validator(mode="after")
    def shift_range_is_ordered(self) -> Requantization:
        if self.shift_min > self.shift_max:
            raise ValueError(f"requantization.shift_min ({self.shift_min}) exceeds shift_max ({self.shift_max})")
        return self


class FusionRule(_Model):
    """A chain of ops the hardware runs as one, requantizing only the last output."""

    pattern: Annotated[
        list[str],
        Field(min_length=1, description="ONNX op types in data-flow order.", examples=[["Conv", "BatchNormalization", "Relu"]]),
    ]

    @model_validator(mode="after")
    def ops_are_known(self) -> FusionRule:
        unknown = [op for op in self.pattern if op not in KNOWN_OPS]
        if unknown:
            raise ValueError(f"fusion pattern {self.pattern} names unknown op types {unknown}")
        return self


class QuantConstraints(_Model):
    """Every rule of a target's integer arithmetic that the quantizer must obey."""

    weights: Annotated[TensorRule, Field(description="Rule for Conv/Gemm/MatMul weights.")] = TensorRule(
        granularity="per_channel", narrow_range=True
    )
    activations: Annotated[TensorRule, Field(description="Rule for activations and model inputs.")] = TensorRule(
        symmetric=False
    )
    bias_bits: Annotated[int, Field(ge=8, le=64, description="Bias width; bias scale is S_in * S_w, zero point 0.")] = 32
    accumulator_overflow: Annotated[
        Literal["saturate", "wrap"], Field(description="What the accumulator does past its width.")
    ] = "saturate"
    quantize_rounding: Annotated[
        RoundingName, Field(description="Tie rule when float values are quantized (inputs, weights). " + _ROUNDING_DOC)
    ] = "half_even"
    requantization: Annotated[Requantization, Field(description="Accumulator-to-output arithmetic.")] = (
        Requantization()
    )
    shared_scale_ops: Annotated[
        list[str],
        Field(description="Ops whose inputs and output must share one scale and zero point."),
    ] = ["Concat", "MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze"]
    add_max_shift_diff_bits: Annotated[
        int | None,
        Field(ge=0, description="power_of_two: the exponents of an Add's inputs may differ by at most this many bits."),
    ] = None
    fused_patterns: Annotated[
        list[FusionRule], Field(description="Op chains run as one op, with a single requantization at the end.")
    ] = []
    float_ops: Annotated[
        list[str], Field(description="Ops that must stay float and run on the host (e.g. Softmax).")
    ] = ["Softmax"]

    @model_validator(mode="after")
    def shift_requant_needs_pow2_scales(self) -> QuantConstraints:
        if self.requantization.mode == "shift":
            bad = [k for k, r in (("weights", self.weights), ("activations", self.activations)) if r.scale != "power_of_two"]
            if bad:
                raise ValueError(
                    f"requantization.mode 'shift' needs power_of_two scales, but {', '.join(bad)}.scale is 'float'"
                )
        return self

    @model_validator(mode="after")
    def op_names_are_known(self) -> QuantConstraints:
        for field in ("shared_scale_ops", "float_ops"):
            unknown = [op for op in getattr(self, field) if op not in KNOWN_OPS]
            if unknown:
                raise ValueError(f"{field} names unknown op types {unknown}")
        return self

    @model_validator(mode="after")
    def add_limit_needs_pow2(self) -> QuantConstraints:
        if self.add_max_shift_diff_bits is not None and self.activations.scale != "power_of_two":
            raise ValueError("add_max_shift_diff_bits applies only when activations.scale is 'power_of_two'")
        return self
