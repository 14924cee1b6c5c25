"""What one op asks of the hardware: a GEMM, or a stream of element operations.

One function per op type (or family) in ``WORKLOADS``; an op type without an entry is costed as an
element-wise op over its output. A Conv is a GEMM of M = output pixels (x batch), N = output
channels per group, K = window x input channels per group, repeated for each of ``groups`` groups;
a depthwise convolution is therefore ``C`` GEMMs with N = 1 and K = kh x kw, as SCALE-Sim would map
it. Gemm/MatMul are GEMMs over their matrix dims (a batched MatMul is one GEMM per batch entry, in
``groups``). A streaming op is ``m`` output positions, ``ops_per_m`` vector element operations each
(the window size for pooling, 1 for element-wise), and the bytes of each input a run of positions
reads (``Footprint``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from hwsim.compiler.graphview import BIAS_INPUT, WEIGHT_INPUT, GraphView, Op


@dataclass(frozen=True)
class Footprint:
    """Bytes of one input that ``m`` consecutive outputs (of ``m_total``) need.

    ``in_rows > 0`` describes a sliding window over rows: outputs come in rows of ``row_len``, and
    ``r`` output rows read ``(r - 1) * stride + extent`` of the ``in_rows`` input rows (the halo is
    re-read by the next tile). A window no taller than its stride (a 1x1 conv) has no halo: ``m``
    outputs read ``extent`` input rows per output row, pro rata. ``in_rows == 0`` is a proportional
    share. ``whole`` inputs (a broadcast operand) are read in full once per layer.
    """

    tensor: str
    total_bytes: int
    m_total: int
    row_len: int = 1
    stride: int = 1
    extent: int = 1
    in_rows: int = 0
    whole: bool = False

    def bytes_for(self, m: int) -> int:
        if self.whole:
            return self.total_bytes
        if self.in_rows <= 0:
            return -(-self.total_bytes * m // self.m_total)
        if self.extent <= self.stride:
            return min(-(-self.total_bytes * m * self.extent // (self.row_len * self.in_rows)), self.total_bytes)
        out_rows = -(-m // self.row_len)
        rows = min(self.in_rows, (out_rows - 1) * self.stride + self.extent)
        b = -(-self.total_bytes * rows // self.in_rows)
        if m < self.row_len:
            b = -(-b * m // self.row_len)
        return min(b, self.total_bytes)


@dataclass(frozen=True)
class GemmWork:
    """``groups`` GEMMs of (m, n, k); ``a`` covers all K (all groups), ``b_bytes`` all groups' weights."""

    m: int
    n: int
    k: int
    groups: int
    a: Footprint
    b_tensor: str
    b_bytes: int
    bias_bytes: int
    out_elem_bytes: int
    depthwise: bool = False

    @property
    def n_total(self) -> int:
        return self.n * self.groups

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.groups

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def activation_reads(self, constants: frozenset[str]) -> dict[str, int]:
        """Activation tensors read (storage name -> bytes): the input, and B when it is not a weight."""
        reads = {self.a.tensor: self.a.total_bytes}
        if self.b_tensor not in constants:
            reads.setdefault(self.b_tensor, self.b_bytes)
        return reads

    def weight_bytes(self, constants: frozenset[str]) -> int:
        return self.b_bytes + self.bias_bytes if self.b_tensor in constants else 0


@dataclass(frozen=True)
class StreamWork:
    """``m`` output positions, ``ops_per_m`` element operations each, reading ``inputs``."""

    m: int
    ops_per_m: int
    inputs: tuple[Footprint, ...]
    out_bytes_per_m: float
    flops_per_op: int = 1

    @property
    def elements(self) -> int:
        return self.m * self.ops_per_m

    @property
    def macs(self) -> int:
        return 0

    @property
    def flops(self) -> int:
        return self.elements * self.flops_per_op

    def activation_reads(self, constants: frozenset[str]) -> dict[str, int]:
        return {f.tensor: f.total_bytes for f in self.inputs}

    def weight_bytes(self, constants: frozenset[str]) -> int:
        return 0


Work = GemmWork | StreamWork
WorkFn = Callable[[Op, GraphView], Work]
WORKLOADS: dict[str, WorkFn] = {}
FLOPS_PER_ELEMENT = {"Softmax": 5, "LayerNormalization": 8, "Sigmoid": 4, "Tanh": 4, "Erf": 8, "Gelu": 8, "HardSwish": 3}


def workload(*op_types: str) -> Callable[[WorkFn], WorkFn]:
    def register(fn: WorkFn) -> WorkFn:
        for t in op_types:
            WORKLOADS[t] = fn
        return fn

    return register


def work_of(op: Op, view: GraphView) -> Work:
    return WORKLOADS.get(op.op_type, elementwise)(op, view)


def _ints(v, n: int, default: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if v is not None else (default,) * n


def _bias_bytes(op: Op, view: GraphView) -> int:
    if len(op.inputs) > BIAS_INPUT and op.inputs[BIAS_INPUT]:
        return view.nbytes(op.node.inputs[BIAS_INPUT], op.name)
    return 0


@workload("Conv")
def conv(op: Op, view: GraphView) -> GemmWork:
    x, w, y = (view.shape(t, op.name) for t in (op.node.inputs[0], op.node.inputs[WEIGHT_INPUT], op.node.outputs[0]))
    nd = len(x) - 2
    g = int(op.node.attrs.get("group", 1))
    ksp = tuple(w[2:])
    strides = _ints(op.node.attrs.get("strides"), nd, 1)
    dil = _ints(op.node.attrs.get("dilations"), nd, 1)
    batch, c_in, out_sp = x[0], x[1], y[2:]
    m = batch * math.prod(out_sp)
    if nd >= 2:
        a = Footprint(op.inputs[0], view.nbytes(op.node.inputs[0], op.name), m, row_len=math.prod(out_sp[1:]),
                      stride=strides[0], extent=(ksp[0] - 1) * dil[0] + 1, in_rows=batch * x[2])
    else:
        a = Footprint(op.inputs[0], view.nbytes(op.node.inputs[0], op.name), m)
    return GemmWork(
        m=m, n=y[1] // g, k=(c_in // g) * math.prod(ksp), groups=g, a=a,
        b_tensor=op.inputs[WEIGHT_INPUT], b_bytes=view.nbytes(op.node.inputs[WEIGHT_INPUT], op.name),
        bias_bytes=_bias_bytes(op, view), out_elem_bytes=view.elem_bytes.get(op.outputs[0], 1),
        depthwise=g > 1 and g == c_in,
    )


@workload("ConvTranspose")
def conv_transpose(op: Op, view: GraphView) -> GemmWork:
    """As a GEMM over input pixels (col2im): N = output channels x kernel window, K = input channels."""
    x, w = view.shape(op.node.inputs[0], op.name), view.shape(op.node.inputs[WEIGHT_INPUT], op.name)
    g = int(op.node.attrs.get("group", 1))
    m = x[0] * math.prod(x[2:])
    return GemmWork(
        m=m, n=w[1] * math.prod(w[2:]), k=x[1] // g, groups=g,
        a=Footprint(op.inputs[0], view.nbytes(op.node.inputs[0], op.name), m),
        b_tensor=op.inputs[WEIGHT_INPUT], b_bytes=view.nbytes(op.node.inputs[WEIGHT_INPUT], op.name),
        bias_bytes=_bias_bytes(op, view), out_elem_bytes=view.elem_bytes.get(op.outputs[0], 1),
    )


@workload("Gemm", "MatMul")
def matmul(op: Op, view: GraphView) -> GemmWork:
    a_name, b_name, y_name = op.node.inputs[0], op.node.inputs[WEIGHT_INPUT], op.node.outputs[0]
    a, b, y = view.shape(a_name, op.name), view.shape(b_name, op.name), view.shape(y_name, op.name)
    trans_a = op.op_type == "Gemm" and int(op.node.attrs.get("transA", 0))
    k = a[-2] if trans_a else a[-1]
    groups = math.prod(y[:-2]) if len(b) > 2 else 1
    m = math.prod(y[:-1]) // groups
    return GemmWork(
        m=m, n=y[-1], k=k, groups=groups,
        a=Footprint(op.inputs[0], view.nbytes(a_name, op.name), m),
        b_tensor=op.inputs[WEIGHT_INPUT], b_bytes=view.nbytes(b_name, op.name),
        bias_bytes=_bias_bytes(op, view), out_elem_bytes=view.elem_bytes.get(op.outputs[0], 1),
    )


def _out_numel(op: Op, view: GraphView) -> int:
    return sum(view.numel(o, op.name) for o in op.node.outputs if o)


def _out_elem(op: Op, view: GraphView) -> int:
    return view.elem_bytes.get(next(o for o in op.outputs if o), 1)


def _stream_inputs(op: Op, view: GraphView, m_total: int, numel_full: int) -> tuple[Footprint, ...]:
    """Activation inputs as proportional shares; smaller (broadcast) ones whole."""
    fps = []
    for name, s in zip(op.node.inputs, op.inputs):
        if not name or s in view.constants:
            continue
        whole = view.numel(name, op.name) < numel_full
        fps.append(Footprint(s, view.nbytes(name, op.name), m_total, whole=whole))
    return tuple(fps)


def elementwise(op: Op, view: GraphView) -> StreamWork:
    m = _out_numel(op, view)
    full = max([m] + [view.numel(i, op.name) for i, s in zip(op.node.inputs, op.inputs) if i and s not in view.constants])
    return StreamWork(m=full, ops_per_m=1, inputs=_stream_inputs(op, view, full, full),
                      out_bytes_per_m=m * _out_elem(op, view) / full, flops_per_op=FLOPS_PER_ELEMENT.get(op.op_type, 1))


@workload("MaxPool", "AveragePool")
def pool(op: Op, view: GraphView) -> StreamWork:
    x, y = view.shape(op.node.inputs[0], op.name), view.shape(op.node.outputs[0], op.name)
    ks = tuple(int(k) for k in op.node.attrs["kernel_shape"])
    strides = _ints(op.node.attrs.get("strides"), len(ks), 1)
    dil = _ints(op.node.attrs.get("dilations"), len(ks), 1)
    m = y[0] * math.prod(y[2:])
    rows = dict(row_len=math.prod(y[3:]), stride=strides[0], extent=(ks[0] - 1) * dil[0] + 1, in_rows=x[0] * x[2]) if len(x) > 3 else {}
    a = Footprint(op.inputs[0], view.nbytes(op.node.inputs[0], op.name), m, **rows)
    return StreamWork(m=m, ops_per_m=y[1] * math.prod(ks), inputs=(a,), out_bytes_per_m=y[1] * _out_elem(op, view))


@workload("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax")
def reduce(op: Op, view: GraphView) -> StreamWork:
    m = _out_numel(op, view)
    n_in = view.numel(op.node.inputs[0], op.name)
    return StreamWork(m=m, ops_per_m=max(1, n_in // m), inputs=(Footprint(op.inputs[0], view.nbytes(op.node.inputs[0], op.name), m),),
                      out_bytes_per_m=_out_elem(op, view))


@workload("Concat", "Resize", "Upsample", "Pad", "Transpose", "Slice", "Split", "Gather", "Tile", "Expand")
def copy(op: Op, view: GraphView) -> StreamWork:
    m = _out_numel(op, view)
    ins = tuple(Footprint(s, view.nbytes(n, op.name), m) for n, s in zip(op.node.inputs, op.inputs) if n and s not in view.constants)
    return StreamWork(m=m, ops_per_m=1, inputs=ins, out_bytes_per_m=_out_elem(op, view))
