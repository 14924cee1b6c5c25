"""Float kernels, one module per op family. Importing this package fills the registry."""
from quant.kernels.registry import KernelContext, Mode, kernel, lookup, registered_ops

__all__ = ["KernelContext", "Mode", "kernel", "lookup", "registered_ops"]
