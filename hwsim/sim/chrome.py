"""A trace in Chrome's Trace Event Format (opens in ui.perfetto.dev and chrome://tracing).

One process (the target), one thread (track) per block: mac_array, vector, host, dma_in, dma_out;
every busy span is an ``"X"`` (complete) event named after its layer, with ``ts``/``dur`` in
microseconds (cycles / clock_mhz) and the tile, action and bytes in ``args``. SRAM in use is a
``"C"`` (counter) track. Metadata events name the tracks; every event carries ph/ts/dur/pid/tid/name.
"""
from __future__ import annotations

from typing import Any

from hwsim.compiler.program import Program
from hwsim.sim.trace import Trace
from hwsim.target import Target

TRACKS = ("mac_array", "vector", "host", "dma_in", "dma_out")
SRAM_TID = len(TRACKS) + 1
PID = 1


def chrome_trace(trace: Trace, target: Target, program: Program | None = None) -> dict[str, Any]:
    """The trace as a JSON-serializable dict (``{"traceEvents": [...], "displayTimeUnit": "ns"}``)."""
    us = 1.0 / target.compute.clock_mhz
    tid = {name: i + 1 for i, name in enumerate(TRACKS)}

    def label(layer: int) -> str:
        return program.layers[layer].name if program is not None and 0 <= layer < len(program.layers) else f"layer {layer}"

    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "ts": 0, "dur": 0, "args": {"name": target.name}}
    ]
    for name, t in [*tid.items(), ("sram", SRAM_TID)]:
        events.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": t, "ts": 0, "dur": 0, "args": {"name": name}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": t, "ts": 0, "dur": 0, "args": {"sort_index": t}})
    for s in trace.spans():
        args = {"layer": s.layer, "tile": s.tile, "action": s.action, "start_cycle": s.start, "cycles": s.end - s.start}
        if s.value:
            args["bytes"] = s.value
        events.append({
            "ph": "X", "name": label(s.layer), "cat": s.action, "pid": PID, "tid": tid[s.block],
            "ts": round(s.start * us, 6), "dur": round((s.end - s.start) * us, 6), "args": args,
        })
    for t, level in trace.sram_levels():
        events.append({"ph": "C", "name": "sram_bytes", "pid": PID, "tid": SRAM_TID, "ts": round(t * us, 6), "dur": 0,
                       "args": {"bytes": level}})
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"target": target.name, "clock_mhz": target.compute.clock_mhz}}
