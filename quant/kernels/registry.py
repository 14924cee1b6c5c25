"""One registry of kernels, keyed by (op type, mode); filled by the ``@kernel`` decorator.

A kernel is a function ``fn(inputs, attrs, ctx) -> tuple[np.ndarray, ...]``:
``inputs`` is a list with ``None`` for omitted optional inputs, ``attrs`` the node's attributes as
plain Python values, ``ctx`` a ``KernelContext``. It never writes into its inputs, except those the
executor donates (``ctx.donated``, see ``donated_out``). Opset variants register with ``since=N``;
the highest ``since`` not above the model's opset wins.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from quant.errors import UnsupportedOpError


class Mode(enum.Enum):
    FLOAT = "float"  # float32 reference (also runs fake-quant graphs: Q/DQ are float kernels)
    INT = "int"  # integer execution on the target's arithmetic (kernels registered by hwsim)


@dataclass(frozen=True)
class KernelContext:
    node_name: str
    opset: int
    arith: Any = None  # mode-specific settings, e.g. the target's integer arithmetic in Mode.INT
    donated: frozenset[int] = frozenset()  # positions of inputs nobody reads after this node (see donated_out)


def donated_out(inputs: Sequence[np.ndarray | None], ctx: KernelContext, pos: int,
                shape: Sequence[int], dtype: np.dtype) -> np.ndarray | None:
    """``inputs[pos]`` when the executor donated it and it can hold a C-contiguous ``shape``/``dtype``
    result, else None: the ``out=`` of a kernel that may compute in place (no fresh memory to fault in)."""
    x = inputs[pos] if pos in ctx.donated else None
    if x is None or x.shape != tuple(shape) or x.dtype != dtype or not x.flags.c_contiguous or not x.flags.writeable:
        return None
    return x


Kernel = Callable[[Sequence[np.ndarray | None], Mapping[str, Any], KernelContext], tuple[np.ndarray, ...]]

_REGISTRY: dict[tuple[str, Mode], list[tuple[int, Kernel]]] = {}


def kernel(op_type: str, mode: Mode = Mode.FLOAT, *, since: int = 1) -> Callable[[Kernel], Kernel]:
    def register(fn: Kernel) -> Kernel:
        versions = _REGISTRY.setdefault((op_type, mode), [])
        versions.append((since, fn))
        versions.sort(key=lambda v: v[0])
        return fn

    return register


def registered_ops(mode: Mode = Mode.FLOAT) -> list[str]:
    return sorted(op for op, m in _REGISTRY if m is mode)


def lookup(op_type: str, mode: Mode, opset: int, node_name: str = "?") -> Kernel:
    versions = _REGISTRY.get((op_type, mode))
    if not versions:
        raise UnsupportedOpError(
            f"node '{node_name}': op type '{op_type}' has no {mode.value} kernel; "
            f"supported: {', '.join(registered_ops(mode))}"
        )
    best = [fn for since, fn in versions if since <= opset]
    return best[-1] if best else versions[0][1]
