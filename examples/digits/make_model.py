"""Build the bundled example: a tiny CNN on scikit-learn's 8x8 digits, exported to ONNX.

Writes, next to this file:
  model.onnx  float32, opset 17; input ``x`` [N,1,8,8] (N symbolic), output ``logits`` [N,10].
              BatchNormalization nodes are kept in the graph on purpose: folding them into the
              preceding Conv is the quantizer's job, not the exporter's.
  calib.npz   ``x`` float32 [256,1,8,8] and ``y`` int64 [256]: calibration samples.
  eval.npz    ``x`` float32 [500,1,8,8] and ``y`` int64 [500]: held-out evaluation samples.
Pixels are scaled to [0, 1] (pixel / 16). The remaining 1041 samples are used for training.

Regenerating needs the OPTIONAL dependencies ``torch==2.13.0`` and ``scikit-learn`` (plus
``onnx`` and ``numpy``). Install them into a separate venv, never into the project's venv:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 scikit-learn onnx numpy
    /tmp/torchenv/bin/pip install onnxruntime   # optional: compare torch and onnxruntime logits
    /tmp/torchenv/bin/python examples/digits/make_model.py

(Pin the torch version: a CPU build of torch 2.13.0 is available locally, whereas plain
``pip install torch`` would fetch a multi-GB CUDA build.) The digits data ships inside
scikit-learn, so nothing is downloaded. Seeds are fixed and training runs single-threaded on
the CPU, so reruns on the same versions reproduce the same files.

Checking the committed files needs only numpy, onnx and onnxruntime (the project's venv):

    /work/venv/bin/python examples/digits/make_model.py --check

which runs onnx.checker, lists the op types and prints the onnxruntime top-1 accuracy on
eval.npz.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.onnx"
CALIB = HERE / "calib.npz"
EVAL = HERE / "eval.npz"

SEED = 0
N_CALIB = 256
N_EVAL = 500
EPOCHS = 30
BATCH = 64
LR = 3e-3
OPSET = 17


# --------------------------------------------------------------------------- data
def load_split():
    """Deterministic train / calib / eval split of sklearn's digits (1797 samples)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]  # [1797,1,8,8] in [0,1]
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(SEED).permutation(len(y))
    ev, ca, tr = perm[:N_EVAL], perm[N_EVAL:N_EVAL + N_CALIB], perm[N_EVAL + N_CALIB:]
    return (x[tr], y[tr]), (x[ca], y[ca]), (x[ev], y[ev])


# --------------------------------------------------------------------------- model
def build_net():
    import torch
    from torch import nn

    class DigitsNet(nn.Module):
        """conv-bn-relu x2, maxpool, depthwise-separable residual block, GAP, linear."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(32)
            self.relu2 = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.dwconv = nn.Conv2d(32, 32, 3, padding=1, groups=32)
            self.dwbn = nn.BatchNorm2d(32)
            self.dwrelu = nn.ReLU()
            self.pwconv = nn.Conv2d(32, 32, 1)
            self.pwbn = nn.BatchNorm2d(32)
            self.relu3 = nn.ReLU()
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.relu1(self.bn1(self.conv1(x)))
            x = self.relu2(self.bn2(self.conv2(x)))
            p = self.pool(x)
            r = self.dwrelu(self.dwbn(self.dwconv(p)))
            r = self.pwbn(self.pwconv(r))
            x = self.relu3(p + r)
            x = torch.flatten(self.gap(x), 1)
            return self.fc(x)

    return DigitsNet()


def train(net, x, y):
    import torch

    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    net.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(yt), generator=g)
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            print(f"epoch {epoch + 1:2d}  train loss {total / len(yt):.4f}")
    net.eval()


def export(net, path: Path):
    """Export with BatchNormalization kept as separate nodes.

    The TorchScript exporter in TrainingMode.EVAL always folds BN into the preceding Conv
    (an eval-mode peephole pass, independent of do_constant_folding). TrainingMode.PRESERVE
    with the module already in eval() keeps BN as an inference-mode BatchNormalization node.
    """
    import onnx
    import torch

    buf = io.BytesIO()
    torch.onnx.export(
        net, (torch.zeros(1, 1, 8, 8),), buf,
        dynamo=False,
        opset_version=OPSET,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
    )
    m = onnx.load_from_string(buf.getvalue())
    # Readable, stable names: "/conv1/Conv" -> "conv1", "/Add" -> "add", "/Flatten" -> "flatten".
    for node in m.graph.node:
        parts = [p for p in node.name.split("/") if p]
        node.name = parts[0] if len(parts) == 2 else (parts[-1].lower() if parts else node.name)
    m.producer_name = "hwsim examples/digits/make_model.py"
    m.doc_string = "Tiny CNN on sklearn 8x8 digits; inputs pixel/16 in [0,1]; BN kept unfolded."
    onnx.checker.check_model(m, full_check=True)
    bn = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    assert len(bn) == 4, f"expected 4 BatchNormalization nodes, found {len(bn)}"
    for n in bn:
        assert len(n.output) == 1, f"{n.name}: BN exported in training mode"
    odd = [n.name for n in m.graph.node if n.op_type in ("Identity", "Dropout")]
    assert not odd, f"unexpected Identity/Dropout nodes: {odd}"
    onnx.save(m, str(path))


# --------------------------------------------------------------------------- checks
def check(torch_logits: np.ndarray | None = None) -> float:
    """Check model.onnx with onnx.checker and onnxruntime; return eval top-1 accuracy."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(MODEL))
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})

    def shape(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    print("opset:", [(o.domain or "ai.onnx", o.version) for o in m.opset_import])
    print("inputs:", [(i.name, shape(i)) for i in m.graph.input])
    print("outputs:", [(o.name, shape(o)) for o in m.graph.output])
    print("op types:", ops)
    print("nodes:", [f"{n.name}:{n.op_type}" for n in m.graph.node])

    ev = np.load(EVAL)
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], {"x": ev["x"]})[0]
    acc = float((logits.argmax(1) == ev["y"]).mean())
    if torch_logits is not None:
        diff = float(np.abs(logits - torch_logits).max())
        print(f"max |onnxruntime - torch| on eval logits: {diff:.2e}")
        assert diff < 1e-4, diff
    print(f"onnxruntime eval top-1: {acc:.4f} ({int(round(acc * len(ev['y'])))}/{len(ev['y'])})")
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="only verify the committed model.onnx / eval.npz (no torch needed)")
    args = ap.parse_args()
    if args.check:
        check()
        return 0

    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    (xtr, ytr), (xca, yca), (xev, yev) = load_split()
    print(f"split: train {len(ytr)}, calib {len(yca)}, eval {len(yev)}")
    net = build_net()
    train(net, xtr, ytr)
    with torch.no_grad():
        tl = net(torch.from_numpy(xev)).numpy()
    acc = float((tl.argmax(1) == yev).mean())
    print(f"torch eval top-1: {acc:.4f} ({int((tl.argmax(1) == yev).sum())}/{len(yev)})")

    np.savez_compressed(CALIB, x=xca, y=yca)
    np.savez_compressed(EVAL, x=xev, y=yev)
    export(net, MODEL)
    print("wrote", MODEL.name, CALIB.name, EVAL.name)

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime not installed here; verify with: "
              "/work/venv/bin/python examples/digits/make_model.py --check")
        return 0
    check(tl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
