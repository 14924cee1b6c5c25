"""Lower a (quantized) graph onto a target: units, fusion, on-chip reuse, tiling. See ``lower``."""
from hwsim.compiler.lower import compile
from hwsim.compiler.program import CompileError, Layer, Program, Tile, Tiling, Unit

__all__ = ["CompileError", "Layer", "Program", "Tile", "Tiling", "Unit", "compile"]
