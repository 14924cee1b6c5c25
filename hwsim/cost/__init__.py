"""Cost models: pure functions from a piece of work and the target's numbers to frozen cost records."""
from hwsim.cost.dma import DmaCost, dma_cost, dram_bytes_per_cycle, dram_latency_cycles
from hwsim.cost.host import HostCost, host_cost
from hwsim.cost.systolic import MAPPINGS, Dataflow, GemmShape, Mapping, SystolicCost, systolic_cost, systolic_cycles
from hwsim.cost.vector import VectorCost, vector_cost

__all__ = [
    "MAPPINGS", "Dataflow", "DmaCost", "GemmShape", "HostCost", "Mapping", "SystolicCost", "VectorCost",
    "dma_cost", "dram_bytes_per_cycle", "dram_latency_cycles", "host_cost", "systolic_cost", "systolic_cycles",
    "vector_cost",
]
