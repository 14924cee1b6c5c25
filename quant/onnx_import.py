"""ONNX -> Graph: load, check, fix input shapes, infer shapes, fold constants, normalize, verify.

``import_model`` runs, in order:
1. load (a path or a ``ModelProto``) and ``onnx.checker``; initializers listed as inputs become
   plain constants; unnamed (or duplicate) nodes are named ``{op_type}_{i}``;
2. ``input_shapes`` overrides; only the first (batch) dim of an input may stay symbolic;
3. shape inference (``data_prop=True``) and constant folding (``quant.constant_fold``), repeated
   until nothing changes;
4. every surviving node gets its canonical form (``quant.onnx_normalize`` documents one form per op);
   nodes no graph output depends on are dropped; every op outside ``supported_ops()``
   (``quant.opset.KNOWN_OPS`` plus the ops with a float kernel) is reported at once
   (``UnsupportedOpError``);
5. every surviving tensor gets a ``TensorInfo``: static dims, except a symbolic batch dim named as
   the first input names it (found by inferring shapes at batch 1 and 2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from quant.constant_fold import default_opset, fold_constants, light_initializer, node_from_proto
from quant.errors import ModelError, UnsupportedOpError
from quant.ir import Dim, Graph, Node, TensorInfo, topological_order, verify
from quant.kernels.registry import Mode, registered_ops
from quant.onnx_normalize import Env, Symbols, normalize_node
from quant.opset import IMPORT_ONLY, KNOWN_OPS

MAX_SWEEPS = 8
DEFAULT_DOMAINS = ("", "ai.onnx")


def import_model(model: str | Path | onnx.ModelProto, *, input_shapes: dict[str, tuple[int | str, ...]] | None = None) -> Graph:
    """Import an ONNX model as a float ``Graph`` (see the module docstring for the steps)."""
    proto, label = _load(model)
    constants = _prepare(proto)
    if input_shapes:
        _override_inputs(proto, input_shapes, label)
    batch = _check_input_dims(proto, label)
    symbols = Symbols()
    proto, constants, partials = _fold_all(proto, constants, symbols, label)
    return _to_graph(proto, constants, partials, symbols, batch, label)


# ---- loading and inputs ----------------------------------------------------------------------

def _load(model: str | Path | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        proto, label = onnx.ModelProto(), model.graph.name or "model"
        proto.CopyFrom(model)
    else:
        label = str(model)
        if not Path(model).is_file():
            raise ModelError(f"{label}: no such file; give the path of an .onnx model")
        try:
            proto = onnx.load(str(model))
        except Exception as e:  # noqa: BLE001 - protobuf and onnx raise several types for unreadable files
            raise ModelError(f"{label}: not an ONNX model ({type(e).__name__}: {e}); give an .onnx file") from None
    try:
        onnx.checker.check_model(proto)
    except Exception as e:  # noqa: BLE001 - ValidationError, or a C++ error for malformed protos
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{label}: not a valid ONNX model (onnx.checker: {first}); re-export or repair it") from None
    if proto.graph.sparse_initializer:
        raise ModelError(f"{label}: sparse initializers are not supported; store them as dense tensors")
    return proto, label


def _prepare(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Initializers (also those listed as inputs) become constants, returned as arrays while the
    model keeps stubs for the large ones; every node gets a unique name."""
    g = proto.graph
    constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    real = [i for i in g.input if i.name not in constants]
    del g.input[:]
    g.input.extend(real)
    del g.initializer[:]
    g.initializer.extend(light_initializer(k, v) for k, v in constants.items())
    proto.ir_version = max(proto.ir_version, 4)  # IR 4 lets initializers be constants, not inputs
    original = {n.name for n in g.node if n.name}
    seen: set[str] = set()
    for i, n in enumerate(g.node):
        if not n.name or n.name in seen:
            name, k = f"{n.op_type}_{i}", 1
            while name in seen or name in original:
                name, k = f"{n.op_type}_{i}_{k}", k + 1
            n.name = name
        seen.add(n.name)
    return constants


def _static_dim(d: object) -> bool:
    return isinstance(d, (int, np.integer)) and d > 0


def _override_inputs(proto: onnx.ModelProto, input_shapes: dict[str, tuple[int | str, ...]], label: str) -> None:
    g = proto.graph
    real = {i.name: i for i in g.input}
    unknown = sorted(set(input_shapes) - set(real))
    if unknown:
        raise ModelError(f"{label}: --input-shape names {unknown}, but the model's inputs are {sorted(real)}")
    for name, shape in input_shapes.items():
        dims = tuple(shape)
        tt = real[name].type.tensor_type
        if not dims or not all(map(_static_dim, dims[1:])) or not (_static_dim(dims[0]) or str(dims[0]).isidentifier()):
            raise ModelError(
                f"{label}: --input-shape {name}={'x'.join(map(str, dims))}: every dim must be a positive integer "
                "(the first may be a name such as N, to keep the batch symbolic)"
            )
        if tt.HasField("shape") and len(tt.shape.dim) != len(dims):
            raise ModelError(
                f"{label}: input '{name}' has rank {len(tt.shape.dim)}, but --input-shape gives {len(dims)} dims "
                f"({'x'.join(map(str, dims))})"
            )
        tt.ClearField("shape")
        for d in dims:
            if isinstance(d, str):
                tt.shape.dim.add().dim_param = d
            else:
                tt.shape.dim.add().dim_value = int(d)
    del g.value_info[:]
    for o in g.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")


def _check_input_dims(proto: onnx.ModelProto, label: str) -> str | None:
    """Raise unless every input dim but the first is static; name an unnamed batch dim. Returns its symbol."""
    batch = None
    for vi in proto.graph.input:
        if not vi.type.HasField("tensor_type"):
            raise ModelError(f"{label}: input '{vi.name}' is not a tensor; only tensor inputs are supported")
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            raise ModelError(f"{label}: input '{vi.name}' has no shape; give it with --input-shape {vi.name}=AxBx...")
        dims = tt.shape.dim
        for axis, d in enumerate(dims):
            if d.HasField("dim_value"):
                continue
            if axis == 0:
                if not d.dim_param:
                    d.dim_param = "batch"
                batch = batch or d.dim_param
                continue
            example = "x".join(
                "1" if i == 0 and not e.HasField("dim_value") else
                str(e.dim_value) if e.HasField("dim_value") else f"<{e.dim_param or '?'}>"
                for i, e in enumerate(dims)
            )
            what = f"symbolic dimension '{d.dim_param}'" if d.dim_param else "an unknown dimension"
            raise ModelError(
                f"{label}: input '{vi.name}' has {what} at axis {axis}; fix it with --input-shape {vi.name}={example}"
            )
    return batch


def _fold_all(proto: onnx.ModelProto, constants: dict[str, np.ndarray], symbols: Symbols, label: str):
    """Shape inference and folding sweeps until nothing changes: (model, constants, partials)."""
    proto = _infer(proto, label)
    for _ in range(MAX_SWEEPS):
        folded = fold_constants(proto, constants, symbols)
        proto, constants = _infer(folded.model, label), folded.constants
        if not folded.changed:
            break
    return proto, constants, folded.partials


def _infer(proto: onnx.ModelProto, label: str) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(proto, check_type=False, strict_mode=False, data_prop=True)
    except Exception as e:  # noqa: BLE001 - onnx raises InferenceError or a C++ error
        raise ModelError(f"{label}: ONNX shape inference failed ({e}); check the model with onnx.checker") from None


# ---- shapes of every tensor ------------------------------------------------------------------

def _shape_table(proto: onnx.ModelProto) -> dict[str, tuple[list[int | str | None] | None, int]]:
    g = proto.graph
    table = {}
    for vi in (*g.input, *g.value_info, *g.output):
        tt = vi.type.tensor_type
        dims = None
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        table[vi.name] = (dims, tt.elem_type)
    return table


def _at_batch(proto: onnx.ModelProto, constants: dict[str, np.ndarray], size: int, label: str) -> dict:
    """The shape table of the model with its batch fixed to ``size`` (refolded: shape chains become constants)."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    del fixed.graph.value_info[:]
    for vi in fixed.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = size
    for o in fixed.graph.output:
        o.type.tensor_type.ClearField("shape")
    return _shape_table(_fold_all(fixed, constants, Symbols(), label)[0])


def _tensor_infos(proto: onnx.ModelProto, constants: dict[str, np.ndarray], batch: str | None,
                  label: str) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """TensorInfo per tensor and, for tensors without one, why not.

    With a symbolic batch, shapes are inferred at batch 1 and 2: a dim that is 1, then 2, is the batch.
    """
    infos, problems = {}, {}
    one = _shape_table(proto) if batch is None else _at_batch(proto, constants, 1, label)
    two = one if batch is None else _at_batch(proto, constants, 2, label)
    for name, (d1, elem) in one.items():
        d2 = two.get(name, (None, 0))[0]
        if not elem:
            problems[name] = "its element type is unknown"
        elif d1 is None or d2 is None or len(d1) != len(d2):
            problems[name] = "its shape is unknown"
        else:
            dims: list[Dim] = []
            for axis, (a, b) in enumerate(zip(d1, d2)):
                if isinstance(a, int) and a == b:
                    dims.append(a)
                elif (a, b) == (1, 2) and batch:
                    dims.append(batch)
                else:
                    grows = f" ({a} at batch 1, {b} at batch 2)" if isinstance(a, int) and isinstance(b, int) else ""
                    problems[name] = f"its dim at axis {axis} is not static{grows}; fix the batch with --input-shape"
                    break
            else:
                infos[name] = TensorInfo(name, tuple(dims), helper.tensor_dtype_to_np_dtype(elem).name)
    return infos, problems


# ---- ONNX -> Graph ---------------------------------------------------------------------------

def _live(nodes: list[Node], outputs: set[str]) -> list[Node]:
    needed, live = set(outputs), []
    for n in reversed(nodes):
        if any(o in needed for o in n.outputs if o):
            live.append(n)
            needed.update(i for i in n.inputs if i)
    return live[::-1]


def supported_ops() -> frozenset[str]:
    """Op types a node may have after import: the op families of ``quant.opset`` plus every op with a float kernel."""
    return KNOWN_OPS | frozenset(registered_ops(Mode.FLOAT))


def _check_supported(nodes: list[Node], label: str) -> None:
    supported = supported_ops()
    bad: dict[str, list[str]] = {}
    for n in nodes:
        default = n.domain in DEFAULT_DOMAINS
        if not default or n.op_type not in supported:
            bad.setdefault(n.op_type if default else f"{n.domain}:{n.op_type}", []).append(n.name)
    if not bad:
        return
    parts = []
    for op, names in sorted(bad.items()):
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        parts.append(f"{op} (node{'s' if len(names) > 1 else ''} {', '.join(repr(x) for x in names[:3])}{more})")
    hint = ""
    stuck = sorted(op for op in bad if op in IMPORT_ONLY)
    if stuck:
        hint = (f"; {', '.join(stuck)} could not be folded away (they depend on run-time values, e.g. a symbolic "
                "batch: fix the input shapes with --input-shape; or a Dropout mask is read)")
    raise UnsupportedOpError(
        f"{label}: unsupported ops: {'; '.join(parts)}{hint}; supported: {', '.join(sorted(supported))}"
    )


def _canonical(proto: onnx.ModelProto, env: Env, label: str) -> list[Node]:
    """The live nodes in canonical form; raises for unsupported ops first, then for the other problems."""
    outputs = {o.name for o in proto.graph.output}
    canon, errors = [], {}
    for n in map(node_from_proto, proto.graph.node):
        if n.domain in DEFAULT_DOMAINS:
            try:
                n = normalize_node(n, env)
            except ModelError as e:
                errors[n.name] = e
        canon.append(n)
    live = _live(canon, outputs)
    _check_supported(live, label)
    for n in live:
        if n.name in errors:
            raise ModelError(f"{label}: {errors[n.name]}") from None
    return live


def _to_graph(proto: onnx.ModelProto, constants: dict[str, np.ndarray], partials: dict[str, np.ndarray],
              symbols: Symbols, batch: str | None, label: str) -> Graph:
    g = proto.graph
    output_names = [o.name for o in g.output]
    table = _shape_table(proto)
    infos, problems = _tensor_infos(proto, constants, batch, label)
    shapes = {k: tuple(d) for k, (d, _) in table.items() if d is not None and None not in d}
    shapes.update({k: v.shape for k, v in infos.items() if k not in shapes})
    env = Env(
        default_opset(proto), constants, shapes, {k: v.dtype for k, v in infos.items()},
        used={i for n in g.node for i in n.input} | set(output_names), partials=partials, symbols=symbols,
        taken={*constants, *table, *(o for n in g.node for o in n.output)},
    )
    live = _canonical(proto, env, label)
    read = {i for n in live for i in n.inputs if i} | set(output_names)
    initializers = {k: v for k, v in {**constants, **env.added}.items() if k in read}
    producers = {o: n for n in live for o in n.outputs if o}
    tensors = {k: TensorInfo(k, tuple(v.shape), v.dtype.name) for k, v in initializers.items()}
    for name in [*(i.name for i in g.input), *read, *producers]:
        if name in tensors:
            continue
        if name not in infos:
            where = f" (output of node '{producers[name].name}' ({producers[name].op_type}))" if name in producers else ""
            why = problems.get(name, "its shape is unknown")
            raise ModelError(f"{label}: cannot give tensor '{name}'{where} a static shape: {why}")
        tensors[name] = infos[name]
    inputs = tuple(tensors[i.name] for i in g.input)
    outputs = tuple(tensors[o] for o in output_names)
    ordered = topological_order(live, [*initializers, *(i.name for i in inputs)])
    graph = Graph(ordered, inputs, outputs, initializers, tensors, env.opset, g.name or "graph")
    verify(graph)
    return graph
