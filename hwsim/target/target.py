"""The root ``Target``: one accelerator as its vendor documents it."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from hwsim.target.base import Strict
from hwsim.target.compute import Compute
from hwsim.target.memory import Memory
from quant.constraints import QuantConstraints


class Source(Strict):
    """Where a number comes from."""

    field: Annotated[str, Field(description="Dotted path of the field(s) it supports; '*' for the whole target.", examples=["compute.clock_mhz"])]
    document: Annotated[str, Field(min_length=1, description="Public document, datasheet or source file.")]
    section: Annotated[str | None, Field(description="Section, table or line within the document.")] = None
    confidence: Annotated[
        Literal["documented", "derived", "estimate"],
        Field(description="documented: stated in the source; derived: computed from stated numbers; estimate: not public, our choice."),
    ] = "documented"
    note: Annotated[str | None, Field(description="How the number was derived or why it is an estimate.")] = None


def _at(field: str, message: str) -> PydanticCustomError:
    """A cross-field error that names the field to change: pydantic gives a model validator's errors
    no location, so the loader reads it from the error's context."""
    text = f"{field}: {message}"  # the field leads the message too, for callers of Target.model_validate
    return PydanticCustomError("cross_field", text.replace("{", "{{").replace("}", "}}"), {"field": field})


class Target(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Short name, as used on the command line.", examples=["tda4vm"])]
    description: Annotated[str, Field(description="One line: the chip and the block modelled.")] = ""
    compute: Compute
    memory: Memory
    quantization: Annotated[QuantConstraints, Field(description="Integer arithmetic the quantizer must obey.")] = QuantConstraints()
    sources: Annotated[list[Source], Field(description="Where each number comes from.")] = []

    @model_validator(mode="after")
    def sources_name_real_fields(self) -> Target:
        for i, src in enumerate(self.sources):
            if src.field != "*" and not _has_path(self, src.field.split(".")):
                raise _at(f"sources.{i}.field", f"'{src.field}' is not a field of the target")
        return self

    @model_validator(mode="after")
    def operand_bits_hold_quantized_values(self) -> Target:
        q, arr = self.quantization, self.compute.mac_array
        widest = max(q.weights.bits, q.activations.bits)
        if widest > arr.operand_bits:
            which = "weights" if q.weights.bits == widest else "activations"
            raise _at(f"quantization.{which}.bits",
                      f"{widest}-bit values do not fit compute.mac_array.operand_bits={arr.operand_bits}")
        return self

    @model_validator(mode="after")
    def depthwise_on_vector_needs_conv(self) -> Target:
        if self.compute.mac_array.depthwise_unit == "vector" and "Conv" not in self.compute.vector.ops:
            raise _at("compute.mac_array.depthwise_unit", "'vector' needs 'Conv' in compute.vector.ops")
        return self

    @property
    def quant_summary(self) -> str:
        q = self.quantization
        w, a = q.weights, q.activations
        wg = "pc" if w.granularity == "per_channel" else "pt"
        pow2 = " pow2" if a.scale == "power_of_two" or w.scale == "power_of_two" else ""
        return f"w{w.bits}{wg} a{a.bits}{'sym' if a.symmetric else 'asym'}{pow2} {q.requantization.mode}"


def _has_path(model: BaseModel, parts: list[str]) -> bool:
    obj: object = model
    for part in parts:
        if isinstance(obj, BaseModel) and part in type(obj).model_fields:
            obj = getattr(obj, part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return False
    return True
