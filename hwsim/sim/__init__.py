"""Simulate a graph on a target: compile, run the simpy engine, summarize.

API:

* ``simulate(graph, target, *, batch=1) -> SimResult``: compile (``hwsim.compiler.compile``) and run.
* ``simulate_program(program, target, on_layer_done=None) -> SimResult``: run an already compiled ``Program``.
* ``run(program, target, trace=None, on_layer_done=None) -> Trace``: the engine alone (events only).
* ``build_report(program, trace, target) -> SimReport``: the pure summary of a run.
* ``chrome_trace(trace, target, program=None) -> dict``: Trace Event Format, for ``trace.json``.

``SimResult`` holds the ``SimReport`` (data), the ``Trace`` (events) and the ``Program`` (what ran).
Nothing here prints or writes files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hwsim.compiler import Program, compile
from hwsim.sim.chrome import chrome_trace
from hwsim.sim.engine import SimulationError, run
from hwsim.sim.report import LayerReport, SimReport, UnitReport, build_report
from hwsim.sim.trace import Event, Span, Trace
from hwsim.target import Target
from quant.ir import Graph


@dataclass(frozen=True)
class SimResult:
    report: SimReport
    trace: Trace
    program: Program

    def chrome_trace(self, target: Target) -> dict:
        return chrome_trace(self.trace, target, self.program)


def simulate_program(program: Program, target: Target, on_layer_done: Callable[[], None] | None = None) -> SimResult:
    trace = run(program, target, on_layer_done=on_layer_done)
    return SimResult(build_report(program, trace, target), trace, program)


def simulate(graph: Graph, target: Target, *, batch: int = 1) -> SimResult:
    """Compile ``graph`` for ``target`` and simulate one inference of ``batch`` inputs."""
    return simulate_program(compile(graph, target, batch=batch), target)


__all__ = [
    "Event", "LayerReport", "SimReport", "SimResult", "SimulationError", "Span", "Trace", "UnitReport",
    "build_report", "chrome_trace", "run", "simulate", "simulate_program",
]
