"""Synthetic whole networks built with onnx.helper, for tests, benchmarks and the simulator.

Each builder returns an ``onnx.ModelProto`` (opset 17) with input ``x`` [N, 3, H, W] (symbolic
batch ``N``) and output ``logits`` [N, classes]. Weights are He-initialised from a seeded numpy
Generator; BatchNormalization nodes stay in the graph with non-trivial statistics. Node names
follow torchvision (``layer1.0.conv1``); each node's output tensor carries the node's name.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from quant.kernels import KernelContext, Mode, lookup

OPSET = 17
IR_VERSION = 8
PROBE_SIDE = 128  # the probe batch's image side (the model's own input side when smaller)


class _Net:
    """Collects nodes and initializers while a builder walks the architecture."""

    def __init__(self, seed: int, h: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        # A small random batch runs through the float kernels as the net grows, so that each
        # BatchNormalization gets the running statistics of the data it actually sees.
        side = min(h, PROBE_SIDE)
        self.probe = {"x": self.rng.standard_normal((2, 3, side, side)).astype(np.float32)}

    def const(self, name: str, value: np.ndarray) -> str:
        self.probe[name] = np.asarray(value, dtype=np.float32)
        self.inits.append(numpy_helper.from_array(self.probe[name], name))
        return name

    def op(self, op_type: str, name: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        """Add node ``name``; its output tensor is ``out`` (default: the node's name)."""
        out = out or name
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        fn = lookup(op_type, Mode.FLOAT, OPSET, name)
        self.probe[out] = fn([self.probe[i] for i in inputs], attrs, KernelContext(name, OPSET))[0]
        return out

    def conv(self, name: str, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
             bias: bool = False) -> str:
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k), dtype=np.float32) * np.float32(np.sqrt(2 / fan_in))
        ins = [x, self.const(f"{name}.weight", w)]
        if bias:
            ins.append(self.const(f"{name}.bias", self.rng.normal(0, 0.05, cout)))
        p = k // 2
        return self.op("Conv", name, ins, kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p],
                       group=groups)

    def bn(self, name: str, x: str, c: int, gain: float = 1.0) -> str:
        r, v = self.rng, self.probe[x]
        var = v.var(axis=(0, 2, 3))  # floored, so channels the probe left dead do not blow up later
        params = {
            "weight": gain * r.uniform(0.6, 1.4, c), "bias": r.normal(0, 0.1, c),
            "running_mean": v.mean(axis=(0, 2, 3)), "running_var": var + 0.1 * np.median(var) + 1e-3,
        }
        ins = [x, *(self.const(f"{name}.{k}", v) for k, v in params.items())]
        return self.op("BatchNormalization", name, ins, epsilon=1e-5)

    def clip(self, name: str, x: str, lo: float, hi: float) -> str:
        bounds = [self.const(f"{name}.min", np.array(lo)), self.const(f"{name}.max", np.array(hi))]
        return self.op("Clip", name, [x, *bounds])

    def act(self, name: str, x: str, kind: str) -> str:
        if kind == "relu6":
            return self.clip(name, x, 0.0, 6.0)
        return self.op({"relu": "Relu", "hswish": "HardSwish"}[kind], name, [x])

    def conv_bn(self, name: str, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                act: str | None = None, gain: float = 1.0) -> str:
        """``{name}.conv`` -> ``{name}.bn`` -> optional ``{name}.{act}``."""
        y = self.bn(f"{name}.bn", self.conv(f"{name}.conv", x, cin, cout, k, stride, groups), cout, gain)
        return self.act(f"{name}.{act}", y, act) if act else y

    def head(self, x: str, features: int, hidden: int | None, num_classes: int, act: str = "hswish") -> str:
        """GlobalAveragePool -> Flatten -> [Gemm -> act] -> Gemm producing ``logits``."""
        y = self.op("Flatten", "flatten", [self.op("GlobalAveragePool", "avgpool", [x])], axis=1)
        if hidden:
            y = self.act("classifier.1", self.fc("classifier.0", y, features, hidden, "classifier.0"), act)
            features = hidden
        return self.fc("logits", y, features, num_classes, "classifier.3" if hidden else "fc")

    def fc(self, out: str, x: str, fin: int, fout: int, name: str) -> str:
        w = self.const(f"{name}.weight", self.rng.normal(0, np.sqrt(1.0 / fin), (fout, fin)))
        b = self.const(f"{name}.bias", self.rng.normal(0, 0.01, fout))
        return self.op("Gemm", name, [x, w, b], out=out, transB=1)

    def model(self, name: str, h: int, num_classes: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, h, h])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", num_classes])],
            self.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hwsim.zoo")
        m.ir_version = IR_VERSION
        return m


def resnet18(h: int = 224, num_classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """ResNet-18: 7x7/2 stem, 3x3/2 max pool, 4 stages of 2 BasicBlocks, global pool, Gemm."""
    n = _Net(seed, h)
    y = n.op("Relu", "relu", [n.bn("bn1", n.conv("conv1", "x", 3, 64, 7, 2), 64)])
    y = n.op("MaxPool", "maxpool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            z = n.op("Relu", f"{p}.relu", [n.bn(f"{p}.bn1", n.conv(f"{p}.conv1", y, cin, cout, 3, stride), cout)])
            z = n.bn(f"{p}.bn2", n.conv(f"{p}.conv2", z, cout, cout, 3), cout, gain=0.4)
            if stride != 1 or cin != cout:
                y = n.bn(f"{p}.downsample.1", n.conv(f"{p}.downsample.0", y, cin, cout, 1, stride), cout)
            y = n.op("Relu", f"{p}.relu2", [n.op("Add", f"{p}.add", [z, y])])
            cin = cout
    n.head(y, 512, None, num_classes)
    return n.model("resnet18", h, num_classes)


def _divisible(v: float, d: int = 8) -> int:
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def mobilenet_v2(h: int = 224, num_classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """MobileNetV2 (width 1.0): inverted residuals with depthwise 3x3, ReLU6 as Clip(0, 6)."""
    n = _Net(seed, h)
    y = n.conv_bn("features.0", "x", 3, 32, 3, 2, act="relu6")
    cin, idx = 32, 1
    for t, c, reps, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)):
        for r in range(reps):
            p, stride, hid = f"features.{idx}", s if r == 0 else 1, cin * t
            z = n.conv_bn(f"{p}.expand", y, cin, hid, 1, act="relu6") if t != 1 else y
            z = n.conv_bn(f"{p}.dw", z, hid, hid, 3, stride, groups=hid, act="relu6")
            z = n.conv_bn(f"{p}.project", z, hid, c, 1, gain=0.5)
            y = n.op("Add", f"{p}.add", [y, z]) if stride == 1 and cin == c else z
            cin, idx = c, idx + 1
    y = n.conv_bn(f"features.{idx}", y, cin, 1280, 1, act="relu6")
    n.head(y, 1280, None, num_classes)
    return n.model("mobilenet_v2", h, num_classes)


def mobilenet_v3_small(h: int = 224, num_classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """MobileNetV3-Small: hard-swish, squeeze-excitation (GAP -> Conv -> Relu -> Conv -> HardSigmoid -> Mul)."""
    n = _Net(seed, h)
    y = n.conv_bn("features.0", "x", 3, 16, 3, 2, act="hswish")
    cin = 16
    config = ((3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
              (5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1),
              (5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1), (5, 288, 96, True, "hswish", 2),
              (5, 576, 96, True, "hswish", 1), (5, 576, 96, True, "hswish", 1))
    for i, (k, exp, cout, se, act, stride) in enumerate(config, start=1):
        p = f"features.{i}"
        z = n.conv_bn(f"{p}.expand", y, cin, exp, 1, act=act) if exp != cin else y
        z = n.conv_bn(f"{p}.dw", z, exp, exp, k, stride, groups=exp, act=act)
        if se:
            sq = _divisible(exp // 4)
            s = n.op("GlobalAveragePool", f"{p}.se.avgpool", [z])
            s = n.op("Relu", f"{p}.se.relu", [n.conv(f"{p}.se.fc1", s, exp, sq, 1, bias=True)])
            s = n.op("HardSigmoid", f"{p}.se.hardsigmoid", [n.conv(f"{p}.se.fc2", s, sq, exp, 1, bias=True)],
                     alpha=1.0 / 6, beta=0.5)
            z = n.op("Mul", f"{p}.se.mul", [z, s])
        z = n.conv_bn(f"{p}.project", z, exp, cout, 1, gain=0.5)
        y = n.op("Add", f"{p}.add", [y, z]) if stride == 1 and cin == cout else z
        cin = cout
    y = n.conv_bn("features.12", y, cin, 576, 1, act="hswish")
    n.head(y, 576, 1024, num_classes)
    return n.model("mobilenet_v3_small", h, num_classes)


def tiny_cnn(h: int = 32, num_classes: int = 10, seed: int = 0) -> onnx.ModelProto:
    """Two conv blocks and a classifier: conv-bn-relu, max pool, conv/2-bn-relu, global pool, Gemm."""
    n = _Net(seed, h)
    y = n.conv_bn("block1", "x", 3, 8, 3, act="relu")
    y = n.op("MaxPool", "pool1", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = n.conv_bn("block2", y, 8, 16, 3, 2, act="relu")
    n.head(y, 16, None, num_classes)
    return n.model("tiny_cnn", h, num_classes)
