"""Float kernels vs onnxruntime: one parametrized parity test per op family.

Each case is a one-node model built with onnx.helper. The first ``feeds`` inputs are graph inputs,
the rest initializers (as weights and shape parameters are in real models), so the same cases hold
whether the importer keeps parameters as inputs or moves them into attributes.
Tolerance: max|ours - ort| <= 1e-4 * (range of the ort output) + 1e-6 (for a one-element output its
magnitude stands in for the range); integer outputs match exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from quant import executor
from quant.kernels import KernelContext, Mode, lookup
from quant.onnx_import import import_model
from quant.opset import KNOWN_OPS

RNG = np.random.default_rng(1234)
F = TensorProto.FLOAT


def r(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def f32(*v: float) -> np.ndarray:
    return np.array(v, dtype=np.float32)


@dataclass
class Case:
    op: str
    inputs: list[np.ndarray | None]
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 17
    feeds: int = 1
    outs: int = 1
    out_type: int = F


def case(op: str, *inputs, opset: int = 17, feeds: int = 1, outs: int = 1, out_type: int = F, **attrs) -> Case:
    return Case(op, list(inputs), attrs, opset, feeds, outs, out_type)


def build(c: Case, out_shapes: list[tuple[int, ...]] | None = None) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    names, feeds, graph_inputs, inits = [], {}, [], []
    for i, v in enumerate(c.inputs):
        if v is None:
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if i < c.feeds:
            feeds[name] = v
            dtype = helper.np_dtype_to_tensor_dtype(v.dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, dtype, v.shape))
        else:
            inits.append(numpy_helper.from_array(v, name))
    outputs = [f"out{i}" for i in range(c.outs)]
    node = helper.make_node(c.op, names, outputs, name="node", **c.attrs)
    shapes = out_shapes or [None] * c.outs
    graph = helper.make_graph([node], "case", graph_inputs,
                              [helper.make_tensor_value_info(o, c.out_type, sh) for o, sh in zip(outputs, shapes)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", c.opset)])
    model.ir_version = 8
    return model, feeds


def assert_close(ours: np.ndarray, ref: np.ndarray, what: str = "") -> None:
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    if np.issubdtype(ref.dtype, np.integer):
        assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != {ref.dtype}"
        np.testing.assert_array_equal(ours, ref)
        return
    ref64, ours64 = ref.astype(np.float64), ours.astype(np.float64)
    # the range of a single value is its magnitude (a full reduction has no spread to scale by)
    span = float(ref64.max() - ref64.min()) if ref.size > 1 else float(np.abs(ref64).max(initial=0.0))
    err = float(np.abs(ours64 - ref64).max()) if ref.size else 0.0
    assert err <= 1e-4 * span + 1e-6, f"{what}: max error {err:g} over output range {span:g}"


def check(c: Case) -> None:
    model, feeds = build(c)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    refs = sess.run(None, feeds)
    model, _ = build(c, [ref.shape for ref in refs])  # a checked model declares its output shapes
    got = executor.run(import_model(model), feeds)
    for i, ref in enumerate(refs):
        assert_close(np.asarray(got[f"out{i}"]), ref, f"{c.op} output {i}")


def params(cases: dict[str, Any]):
    return pytest.mark.parametrize("c", list(cases.values()), ids=list(cases))


# --- Conv, ConvTranspose -------------------------------------------------------------------------

CONV = {
    "3x3_pad1_bias": case("Conv", r(2, 3, 9, 11), r(5, 3, 3, 3), r(5), pads=[1, 1, 1, 1]),
    "stride2_asym_pads": case("Conv", r(1, 3, 10, 9), r(4, 3, 3, 3), strides=[2, 2], pads=[0, 1, 2, 0]),
    "dilation2_stride12": case("Conv", r(2, 4, 13, 12), r(3, 4, 3, 3), r(3), dilations=[2, 2], strides=[1, 2],
                               pads=[2, 1, 2, 1]),
    "groups2": case("Conv", r(1, 4, 8, 8), r(6, 2, 3, 3), r(6), group=2, pads=[1, 1, 1, 1]),
    "groups3_stride2": case("Conv", r(2, 9, 11, 11), r(6, 3, 3, 3), group=3, strides=[2, 2]),
    "depthwise_stride2": case("Conv", r(2, 6, 10, 7), r(6, 1, 3, 3), r(6), group=6, strides=[2, 2],
                              pads=[1, 1, 1, 1]),
    "depthwise_5x5_dil2": case("Conv", r(1, 5, 15, 14), r(5, 1, 5, 5), group=5, dilations=[2, 2],
                               pads=[4, 3, 4, 5]),
    "depthwise_strides_21": case("Conv", r(2, 4, 11, 10), r(4, 1, 3, 3), group=4, strides=[2, 1], pads=[1, 0, 1, 2]),
    "depthwise_s2_dil2_asym": case("Conv", r(1, 4, 12, 13), r(4, 1, 3, 2), group=4, strides=[2, 2], dilations=[2, 2],
                                   pads=[0, 1, 2, 0]),
    "depthwise_1d_s3": case("Conv", r(2, 5, 20), r(5, 1, 4), r(5), group=5, strides=[3], pads=[1, 2]),
    "depthwise_many_blocks": case("Conv", r(4, 32, 64, 64), r(32, 1, 3, 3), group=32, pads=[1, 1, 1, 1]),
    "depthwise_multiplier2": case("Conv", r(1, 6, 9, 9), r(12, 1, 3, 3), group=6, pads=[1, 1, 1, 1]),
    "pointwise": case("Conv", r(2, 8, 7, 5), r(16, 8, 1, 1)),
    "pointwise_stride2": case("Conv", r(2, 8, 7, 5), r(16, 8, 1, 1), r(16), strides=[2, 2]),
    "stem_7x7_stride2": case("Conv", r(1, 3, 32, 30), r(8, 3, 7, 7), strides=[2, 2], pads=[3, 3, 3, 3]),
    "same_upper_stride2": case("Conv", r(1, 3, 10, 11), r(4, 3, 3, 3), auto_pad="SAME_UPPER", strides=[2, 2]),
    "same_lower_4x4": case("Conv", r(1, 3, 9, 9), r(4, 3, 4, 4), auto_pad="SAME_LOWER"),
    "valid": case("Conv", r(1, 3, 9, 9), r(4, 3, 3, 3), auto_pad="VALID"),
    "conv1d": case("Conv", r(2, 3, 17), r(4, 3, 5), r(4), strides=[2], pads=[2, 1]),
    "batch_chunked_big": case("Conv", r(2, 64, 48, 48), r(40, 64, 3, 3), pads=[1, 1, 1, 1]),
    "batch_chunked_groups": case("Conv", r(3, 8, 20, 20), r(8, 4, 3, 3), group=2, strides=[2, 2], pads=[1, 1, 1, 1]),
    "transpose_stride2_outpad": case("ConvTranspose", r(1, 4, 5, 6), r(4, 3, 3, 3), r(3), strides=[2, 2],
                                     pads=[1, 1, 1, 1], output_padding=[1, 1]),
    "transpose_groups_dil": case("ConvTranspose", r(2, 4, 5, 5), r(4, 2, 3, 3), group=2, dilations=[2, 2],
                                 pads=[0, 1, 1, 0]),
    "transpose_output_shape": case("ConvTranspose", r(1, 3, 5, 6), r(3, 2, 3, 3), strides=[2, 2],
                                   output_shape=[10, 12]),
    "transpose_same_upper": case("ConvTranspose", r(1, 3, 5, 6), r(3, 2, 4, 4), strides=[2, 2],
                                 auto_pad="SAME_UPPER"),
    "transpose_1d": case("ConvTranspose", r(2, 3, 7), r(3, 4, 4), strides=[3]),
}


@params(CONV)
def test_conv(c: Case) -> None:
    check(c)


# --- Gemm, MatMul ---------------------------------------------------------------------------------

GEMM = {
    "gemm_bias_vector": case("Gemm", r(5, 7), r(9, 7), r(9), transB=1),
    "gemm_transA_alpha_beta": case("Gemm", r(7, 5), r(7, 3), r(1, 3), transA=1, alpha=0.5, beta=2.0),
    "gemm_no_c": case("Gemm", r(4, 6), r(6, 3)),
    "gemm_c_matrix": case("Gemm", r(4, 6), r(3, 6), r(4, 3), transB=1, beta=0.25),
    "matmul_2d": case("MatMul", r(5, 7), r(7, 3)),
    "matmul_batched_broadcast": case("MatMul", r(2, 1, 3, 4), r(5, 4, 6)),
    "matmul_vector": case("MatMul", r(4), r(2, 4, 3)),
    "matmul_two_feeds": case("MatMul", r(3, 2, 5), r(3, 5, 4), feeds=2),
}


@params(GEMM)
def test_gemm(c: Case) -> None:
    check(c)


# --- element-wise and activations ----------------------------------------------------------------

X = r(2, 3, 4, 5, lo=-6, hi=6)
ELEMENTWISE = {
    "add_broadcast": case("Add", X, r(4, 1)),
    "sub_two_feeds": case("Sub", X, r(3, 1, 5), feeds=2),
    "mul_scalar": case("Mul", X, f32(1.5)),
    "div": case("Div", X, r(5, lo=0.5, hi=2)),
    "pow": case("Pow", r(3, 4, lo=0.1, hi=3), f32(2.5)),
    "sqrt": case("Sqrt", r(3, 4, lo=0, hi=9)),
    "exp": case("Exp", r(3, 4, lo=-5, hi=5)),
    "erf": case("Erf", X),
    "cast_int32": case("Cast", X, to=TensorProto.INT32, out_type=TensorProto.INT32),
    "cast_float16": case("Cast", X, to=TensorProto.FLOAT16, out_type=TensorProto.FLOAT16),
    "relu": case("Relu", X),
    "leaky_relu": case("LeakyRelu", X, alpha=0.2),
    "prelu_channel": case("PRelu", X, r(3, 1, 1, lo=0, hi=0.5)),
    "clip_inputs": case("Clip", X, f32(-1.0).reshape(()), f32(6.0).reshape(())),
    "clip_max_only": case("Clip", X, None, f32(0.5).reshape(())),
    "clip_opset6_attrs": case("Clip", X, min=0.0, max=6.0, opset=6),
    "sigmoid_wide": case("Sigmoid", r(4, 50, lo=-40, hi=40)),
    "hard_sigmoid_default": case("HardSigmoid", X),
    "hard_sigmoid_torch": case("HardSigmoid", X, alpha=1 / 6, beta=0.5),
    "hard_swish": case("HardSwish", X),
    "tanh": case("Tanh", X),
    "gelu_erf": case("Gelu", X, opset=20),
    "gelu_tanh": case("Gelu", X, approximate="tanh", opset=20),
}


@params(ELEMENTWISE)
def test_elementwise(c: Case) -> None:
    check(c)


# --- pooling -----------------------------------------------------------------------------------------

P = r(2, 3, 11, 10)
POOLING = {
    "max_3x3_s2_pad1": case("MaxPool", P, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "max_ceil_mode": case("MaxPool", P, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    "max_ceil_pads": case("MaxPool", P, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 0], ceil_mode=1),
    "max_dilation": case("MaxPool", P, kernel_shape=[2, 3], dilations=[2, 2], strides=[1, 2]),
    "max_same_upper": case("MaxPool", P, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "max_1d": case("MaxPool", r(2, 3, 13), kernel_shape=[3], strides=[2]),
    "max_many_blocks": case("MaxPool", r(4, 64, 56, 56), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "avg_exclude_pad": case("AveragePool", P, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "avg_include_pad": case("AveragePool", P, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                            count_include_pad=1),
    "avg_asym_pads": case("AveragePool", P, kernel_shape=[3, 2], pads=[0, 1, 2, 0], count_include_pad=1),
    "avg_ceil_exclude": case("AveragePool", P, kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "avg_ceil_include_pad": case("AveragePool", P, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                 ceil_mode=1, count_include_pad=1),
    "avg_dilation": case("AveragePool", P, kernel_shape=[2, 2], dilations=[2, 2], opset=19),
    "global_avg": case("GlobalAveragePool", P),
}


@params(POOLING)
def test_pooling(c: Case) -> None:
    check(c)


# --- normalization ---------------------------------------------------------------------------------

NORMALIZATION = {
    "batchnorm_4d": case("BatchNormalization", r(2, 4, 5, 6), r(4), r(4), r(4), r(4, lo=0.2, hi=2), epsilon=1e-3),
    "batchnorm_2d": case("BatchNormalization", r(5, 4), r(4), r(4), r(4), r(4, lo=0.2, hi=2)),
    "layernorm_last": case("LayerNormalization", r(2, 5, 8), r(8), r(8), epsilon=1e-5),
    "layernorm_axis1_no_bias": case("LayerNormalization", r(2, 3, 4, 5), r(3, 4, 5), axis=1),
}


@params(NORMALIZATION)
def test_normalization(c: Case) -> None:
    check(c)


# --- reductions and softmax ----------------------------------------------------------------------

R = r(2, 3, 4, 5)
REDUCE = {
    "mean_attr_axes": case("ReduceMean", R, axes=[-1, 1], keepdims=0, opset=13),
    "mean_input_axes": case("ReduceMean", R, i64(2, 3), opset=18),
    "sum_input_axes": case("ReduceSum", R, i64(-2), keepdims=0, opset=13),
    "sum_all": case("ReduceSum", R, opset=13),
    "softmax_last": case("Softmax", r(3, 7, lo=-20, hi=20)),
    "softmax_axis1": case("Softmax", R, axis=1),
    "softmax_opset11": case("Softmax", r(2, 5, 1, 1), axis=1, opset=11),
}


@params(REDUCE)
def test_reduce(c: Case) -> None:
    check(c)


# --- data movement -----------------------------------------------------------------------------------

S = r(2, 3, 4, 5)
SHAPE_OPS = {
    "flatten_axis0": case("Flatten", S, axis=0),
    "flatten_axis2": case("Flatten", S, axis=2),
    "flatten_neg": case("Flatten", S, axis=-1),
    "reshape_zero_minus1": case("Reshape", S, i64(0, -1, 5)),
    "reshape_flat": case("Reshape", S, i64(-1)),
    "transpose_perm": case("Transpose", S, perm=[0, 2, 3, 1]),
    "transpose_default": case("Transpose", S),
    "concat_neg_axis": case("Concat", S, r(2, 3, 4, 2), r(2, 3, 4, 1), axis=-1, feeds=2),
    "split_input_sizes": case("Split", S, i64(2, 3), axis=3, outs=2, opset=13),
    "split_attr_sizes": case("Split", S, axis=1, split=[2, 1], outs=2, opset=11),
    "split_num_outputs": case("Split", S, axis=-1, num_outputs=2, outs=2, opset=18),
    "slice_steps_neg": case("Slice", S, i64(-1, 0), i64(-1000, 4), i64(3, 2), i64(-2, 2)),
    "slice_clamped": case("Slice", S, i64(1), i64(100), i64(1)),
    "slice_opset9_attrs": case("Slice", S, starts=[0, 1], ends=[2, -1], axes=[2, 3], opset=9),
    "pad_constant": case("Pad", S, i64(0, 0, 1, 2, 0, 0, 2, 1), f32(0.5).reshape(())),
    "pad_reflect": case("Pad", S, i64(0, 0, 2, 1, 0, 0, 1, 3), mode="reflect"),
    "pad_edge": case("Pad", S, i64(0, 1, 1, 0, 0, 0, 1, 2), mode="edge"),
    "pad_negative": case("Pad", S, i64(0, 0, -1, 2, 0, 0, 1, -2)),
    "pad_axes_opset18": case("Pad", S, i64(1, 2, 0, 3), f32(-1).reshape(()), i64(-1, 1), opset=18),
    "pad_opset2_attrs": case("Pad", S, pads=[0, 0, 1, 1, 0, 0, 1, 1], value=2.0, opset=2),
    "squeeze_input_axes": case("Squeeze", r(2, 1, 3, 1), i64(-1), opset=13),
    "squeeze_attr_axes": case("Squeeze", r(2, 1, 3, 1), axes=[1, 3], opset=11),
    "squeeze_all": case("Squeeze", r(2, 1, 3, 1), opset=13),
    "unsqueeze_input_axes": case("Unsqueeze", r(2, 3), i64(-1, 0), opset=13),
    "unsqueeze_attr_axes": case("Unsqueeze", r(2, 3), axes=[1], opset=11),
    "gather_axis1_negative": case("Gather", S, i64(-1, 0, 2), axis=1),
    "gather_2d_indices": case("Gather", S, np.array([[0, 1], [1, 0]], dtype=np.int64)),
    "gather_scalar_index": case("Gather", S, np.array(2, dtype=np.int64), axis=3),
    "identity": case("Identity", S),
}


@params(SHAPE_OPS)
def test_shape_ops(c: Case) -> None:
    check(c)


# --- Resize ------------------------------------------------------------------------------------------

IMG = r(1, 2, 5, 7)


def scales(*v: float) -> np.ndarray:
    return f32(*v)


def resize(x, sc=None, sizes=None, **attrs) -> Case:
    """Opset-13 Resize with constant scales or sizes (roi omitted)."""
    ins = [x, None, sc] if sizes is None else [x, None, None, sizes]
    return case("Resize", *ins, opset=13, **attrs)


RESIZE = {
    "nearest_asym_floor_x2": resize(IMG, scales(1, 1, 2, 2), mode="nearest",
                                    coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    "nearest_default_x3": resize(IMG, scales(1, 1, 3, 3)),
    "nearest_half_pixel_x1_5": resize(IMG, scales(1, 1, 1.5, 1.5), nearest_mode="round_prefer_ceil"),
    "nearest_align_corners_sizes": resize(IMG, sizes=i64(1, 2, 9, 4), coordinate_transformation_mode="align_corners",
                                          nearest_mode="round_prefer_floor"),
    "nearest_pytorch_half_pixel_down": resize(IMG, scales(1, 1, 0.6, 0.5),
                                              coordinate_transformation_mode="pytorch_half_pixel",
                                              nearest_mode="floor"),
    "nearest_ceil_asym": resize(IMG, scales(1, 1, 2.5, 1.75), coordinate_transformation_mode="asymmetric",
                                nearest_mode="ceil"),
    "linear_half_pixel_x2": resize(IMG, scales(1, 1, 2, 2), mode="linear"),
    "linear_align_corners_sizes": resize(IMG, sizes=i64(1, 2, 11, 13), mode="linear",
                                         coordinate_transformation_mode="align_corners"),
    "linear_pytorch_half_pixel_size1": resize(IMG, sizes=i64(1, 2, 1, 10), mode="linear",
                                              coordinate_transformation_mode="pytorch_half_pixel"),
    "linear_asym_down": resize(IMG, scales(1, 1, 0.5, 0.75), mode="linear",
                               coordinate_transformation_mode="asymmetric"),
    "cubic_half_pixel": resize(IMG, scales(1, 1, 2, 1.5), mode="cubic"),
    "cubic_exclude_outside": resize(IMG, scales(1, 1, 1.6, 2), mode="cubic", exclude_outside=1, cubic_coeff_a=-0.5),
    "resize_opset10_nearest": case("Resize", IMG, scales(1, 1, 2, 1.5), opset=10),
    "resize_opset10_linear": case("Resize", IMG, scales(1, 1, 2, 2), mode="linear", opset=10),
    "upsample_opset9_nearest": case("Upsample", IMG, scales(1, 1, 2, 3), opset=9),
    "upsample_opset9_linear": case("Upsample", IMG, scales(1, 1, 2, 2), mode="linear", opset=9),
}


@params(RESIZE)
def test_resize(c: Case) -> None:
    check(c)


# --- QuantizeLinear, DequantizeLinear --------------------------------------------------------------

SCALE = np.float32(0.05)
TIES = (np.arange(-300, 300, dtype=np.float32) + 0.5) * SCALE  # exact halves: round half to even
QX = np.concatenate([TIES, r(200, lo=-20, hi=20)]).reshape(8, -1)
QDQ = {
    "quantize_uint8": case("QuantizeLinear", QX, f32(0.05).reshape(()), np.array(128, np.uint8),
                           out_type=TensorProto.UINT8),
    "quantize_int8": case("QuantizeLinear", QX, f32(0.05).reshape(()), np.array(-3, np.int8),
                          out_type=TensorProto.INT8),
    "quantize_default_zp": case("QuantizeLinear", QX, f32(0.05).reshape(()), out_type=TensorProto.UINT8),
    "quantize_per_axis1": case("QuantizeLinear", r(2, 4, 3, 3, lo=-3, hi=3), r(4, lo=0.01, hi=0.05),
                               np.array([0, 1, -2, 5], np.int8), out_type=TensorProto.INT8),
    "quantize_per_axis0": case("QuantizeLinear", r(4, 3, 3, 3, lo=-3, hi=3), r(4, lo=0.01, hi=0.05),
                               np.zeros(4, np.int8), axis=0, out_type=TensorProto.INT8),
    "dequantize_int8": case("DequantizeLinear", RNG.integers(-128, 128, (3, 7)).astype(np.int8), f32(0.1).reshape(()),
                            np.array(4, np.int8)),
    "dequantize_uint8": case("DequantizeLinear", RNG.integers(0, 256, (3, 7)).astype(np.uint8), f32(0.02).reshape(()),
                             np.array(128, np.uint8)),
    "dequantize_per_axis": case("DequantizeLinear", RNG.integers(-128, 128, (2, 4, 3)).astype(np.int8),
                                r(4, lo=0.01, hi=0.1), np.array([0, 1, 2, -1], np.int8)),
    "dequantize_int32_bias": case("DequantizeLinear", RNG.integers(-2**20, 2**20, (16,)).astype(np.int32),
                                  f32(1e-4).reshape(())),
}


@params(QDQ)
def test_qdq(c: Case) -> None:
    check(c)


def test_every_registered_family_has_cases() -> None:
    tested = {getattr(c, "values", [c])[0].op for table in (CONV, GEMM, ELEMENTWISE, POOLING, NORMALIZATION, REDUCE,
                                                             SHAPE_OPS, RESIZE, QDQ) for c in table.values()}
    assert KNOWN_OPS <= tested, f"ops without a parity case: {sorted(KNOWN_OPS - tested)}"


# --- raw ONNX forms: kernels also accept parameters as inputs (hand-built graphs, constant folding) ---

SQ, US, CX, CW = r(2, 1, 3), r(2, 3), r(1, 3, 7, 8), r(4, 3, 3, 3)
RAW_FORMS = {  # op: (raw inputs, raw attrs, canonical inputs, canonical attrs, opset)
    "Clip": ([S, f32(0).reshape(()), None], {}, [S], {"min": 0.0}, 17),
    "Squeeze": ([SQ, i64(1)], {}, [SQ], {"axes": (1,)}, 13),
    "Unsqueeze": ([US, i64(-1)], {}, [US], {"axes": (2,)}, 13),
    "ReduceSum": ([S, i64(1, -1)], {"keepdims": 0}, [S], {"axes": (1, 3), "keepdims": 0}, 13),
    "Split": ([S, i64(2, 2)], {"axis": 2}, [S], {"axis": 2, "split": (2, 2)}, 13),
    "Slice": ([S, i64(3, 1), i64(0, 4), i64(-1, 1), i64(-1, 2)], {}, [S],
              {"starts": (1, 3), "ends": (4, 0), "axes": (1, 3), "steps": (2, -1)}, 13),
    "Pad": ([S, i64(1, 2, 0, 3), f32(1).reshape(()), i64(1, 3)], {"mode": "constant"}, [S],
            {"pads": (0, 1, 0, 2, 0, 0, 0, 3), "mode": "constant", "value": 1.0}, 18),
    "Reshape": ([S, i64(0, -1)], {}, [S], {"shape": (2, 60)}, 13),
    "Resize": ([IMG, None, scales(1, 1, 2, 2)], {"mode": "linear"}, [IMG],
               {"mode": "linear", "scales": (1.0, 1.0, 2.0, 2.0), "axes": (0, 1, 2, 3)}, 13),
    "Conv": ([CX, CW], {"auto_pad": "SAME_UPPER", "strides": (2, 2)}, [CX, CW],
             {"pads": (1, 0, 1, 1), "strides": (2, 2)}, 17),
}


@pytest.mark.parametrize("op", list(RAW_FORMS))
def test_raw_onnx_forms(op: str) -> None:
    raw_in, raw_attrs, can_in, can_attrs, opset = RAW_FORMS[op]
    fn, ctx = lookup(op, Mode.FLOAT, opset), KernelContext("node", opset)
    for a, b in zip(fn(raw_in, raw_attrs, ctx), fn(can_in, can_attrs, ctx)):
        np.testing.assert_array_equal(a, b)
