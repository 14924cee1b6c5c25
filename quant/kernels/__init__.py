"""Float kernels, one module per op family. Importing this package fills the registry."""
from quant.kernels.registry import KernelContext, Mode, kernel, lookup, registered_ops
from quant.kernels import (  # noqa: F401  (imported for their @kernel registrations)
    conv, elementwise, gemm, normalization, pooling, qdq, reduce, resize, shape_ops,
)

__all__ = ["KernelContext", "Mode", "kernel", "lookup", "registered_ops"]
