"""Graph -> Graph passes: plain functions, no hidden state, no printing.

- ``fold_batchnorm``: Conv/Gemm + BatchNormalization -> Conv/Gemm.
- ``mark_float``: ``_keep_float = 1`` on nodes that stay float.
- ``fuse_patterns``: ``_fused_group = <name>`` on chains the target runs as one op.
- ``insert_qdq``: QuantizeLinear/DequantizeLinear around every quantized tensor (``quant_sites``).
- ``prepare``: the pre-calibration pipeline (one list, verified after each pass).
"""
from quant.passes.fold_batchnorm import fold_batchnorm
from quant.passes.fuse import fuse_patterns, groups, interior_tensors, is_float, mark_float
from quant.passes.insert_qdq import Site, insert_qdq, quant_sites, weight_axis
from quant.passes.pipeline import passes, prepare
from quant.passes.rewrite import FUSED_GROUP, KEEP_FLOAT, Chain, Rewrite, apply_rules

__all__ = [
    "FUSED_GROUP", "KEEP_FLOAT", "Chain", "Rewrite", "Site", "apply_rules", "fold_batchnorm", "fuse_patterns",
    "groups", "insert_qdq", "interior_tensors", "is_float", "mark_float", "passes", "prepare", "quant_sites",
    "weight_axis",
]
