"""Op families, defined once. Names are ONNX op types."""

# Ops whose cost is a GEMM on a MAC array.
MATMUL_LIKE = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})

ACTIVATIONS = frozenset(
    {"Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu"}
)

ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Cast"}) | ACTIVATIONS

POOLING = frozenset({"MaxPool", "AveragePool", "GlobalAveragePool"})

NORMALIZATION = frozenset({"BatchNormalization", "LayerNormalization"})

REDUCTION = frozenset({"ReduceMean", "ReduceSum", "Softmax"})

# Ops that only move or reinterpret data.
DATA_MOVEMENT = frozenset(
    {
        "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice", "Pad", "Resize", "Upsample",
        "Squeeze", "Unsqueeze", "Gather", "Identity",
    }
)

# Ops removed or folded at import; they never reach an executor.
IMPORT_ONLY = frozenset({"Constant", "Dropout", "Shape", "ConstantOfShape", "Range", "Equal", "Where", "Expand"})

QDQ = frozenset({"QuantizeLinear", "DequantizeLinear"})

KNOWN_OPS = MATMUL_LIKE | ELEMENTWISE | POOLING | NORMALIZATION | REDUCTION | DATA_MOVEMENT | QDQ

# Ops integer hardware applies to a MAC op's accumulator before the single requantization of a fused
# group: folded BatchNorm, a clamp (ReLU/ReLU6/Clip), a residual Add. Other ops in a target's fused
# pattern (a LUT activation, pooling) still read a requantized int8 tensor, so quantizers stay before them.
ACCUMULATOR_EPILOGUE = frozenset({"BatchNormalization", "Relu", "Clip", "Add"})
