"""Target descriptions: one pydantic model per concern, composed into ``Target``."""
from hwsim.target.compute import Compute, Host, MacArray, VectorUnit
from hwsim.target.loader import find, load, load_all, target_names, targets_dir
from hwsim.target.memory import Dram, Memory, OnChipMemory, SharedMemory
from hwsim.target.target import Source, Target
from quant.constraints import FusionRule, QuantConstraints, Requantization, TensorRule

__all__ = [
    "Compute", "Dram", "FusionRule", "Host", "MacArray", "Memory", "OnChipMemory", "QuantConstraints",
    "Requantization", "SharedMemory", "Source", "Target", "TensorRule", "VectorUnit",
    "find", "load", "load_all", "target_names", "targets_dir",
]
