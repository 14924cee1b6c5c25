"""Quantization parameters of one integer tensor, read from QuantizeLinear / DequantizeLinear nodes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from hwsim.errors import HwsimError
from quant.ir import Graph, Node


class LoweringError(HwsimError):
    """A QDQ model cannot be executed on the target's integer arithmetic as given."""


_INT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32")


@dataclass(frozen=True, eq=False)
class QParams:
    """r = scale * (q - zero_point); per tensor (0-d arrays) or per channel along ``axis`` (1-d arrays)."""

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64, the shape of scale
    dtype: str  # numpy name of the integer storage type
    axis: int | None = None

    @staticmethod
    def make(scale, zero_point, dtype: str, axis: int | None = None) -> QParams:
        s = np.asarray(scale, dtype=np.float32)
        z = np.asarray(zero_point, dtype=np.int64)
        z = z.reshape(s.shape) if z.size == 1 and s.size == 1 else np.broadcast_to(z, s.shape).copy()
        if s.ndim == 1 and s.size == 1:  # a 1-element vector is per tensor
            s, z, axis = s.reshape(()), z.reshape(()), None
        return QParams(s, z, dtype, axis if s.ndim else None)

    @property
    def per_channel(self) -> bool:
        return self.scale.ndim > 0

    @property
    def bits(self) -> int:
        return np.dtype(self.dtype).itemsize * 8

    @property
    def signed(self) -> bool:
        return np.dtype(self.dtype).kind == "i"

    @property
    def qmin(self) -> int:
        return int(np.iinfo(self.dtype).min)

    @property
    def qmax(self) -> int:
        return int(np.iinfo(self.dtype).max)

    @property
    def s(self) -> float:
        """The per-tensor scale as a Python float (float32 value)."""
        return float(self.scale)

    @property
    def z(self) -> int:
        return int(self.zero_point)

    def same(self, other: QParams) -> bool:
        return (
            self.dtype == other.dtype
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )

    def along(self, values: np.ndarray, ndim: int) -> np.ndarray:
        """Reshape a per-channel array so it broadcasts against an ndim tensor (no-op per tensor)."""
        v = np.asarray(values)
        if v.ndim == 0 or self.axis is None:
            return v
        shape = [1] * ndim
        shape[self.axis % ndim] = -1
        return v.reshape(shape)


def _constant(graph: Graph, name: str, node: Node) -> np.ndarray:
    if name not in graph.initializers:
        raise LoweringError(
            f"node '{node.name}' ({node.op_type}): '{name}' must be a constant initializer; "
            "computed scales or zero points are not supported"
        )
    return np.asarray(graph.initializers[name])


def qparams_of(graph: Graph, node: Node) -> QParams:
    """The qparams a QuantizeLinear or DequantizeLinear node applies."""
    scale = _constant(graph, node.inputs[1], node).astype(np.float32)
    has_zp = len(node.inputs) > 2 and node.inputs[2]
    if has_zp:
        zp = _constant(graph, node.inputs[2], node)
        dtype = zp.dtype.name
    elif node.op_type == "DequantizeLinear" and node.inputs[0] in graph.initializers:
        zp, dtype = np.zeros(scale.shape, np.int64), np.asarray(graph.initializers[node.inputs[0]]).dtype.name
    elif node.op_type == "DequantizeLinear" and node.inputs[0] in graph.tensors:
        zp, dtype = np.zeros(scale.shape, np.int64), graph.tensors[node.inputs[0]].dtype
    else:
        out_type = int(node.attrs.get("output_dtype", 0) or onnx.TensorProto.UINT8)
        zp, dtype = np.zeros(scale.shape, np.int64), onnx.helper.tensor_dtype_to_np_dtype(out_type).name
    if dtype not in _INT_DTYPES:
        raise LoweringError(f"node '{node.name}' ({node.op_type}): integer type {dtype} is not supported")
    if "block_size" in node.attrs and int(node.attrs["block_size"]):
        raise LoweringError(f"node '{node.name}': blocked quantization (block_size) is not supported")
    axis = int(node.attrs.get("axis", 1)) if scale.ndim else None
    return QParams.make(scale, zp.astype(np.int64), dtype, axis)
