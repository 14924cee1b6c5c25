"""What the engine records: one ``Event`` per begin/end of every block's activity, in time order.

``block`` is the hardware block (``dma_in``, ``dma_out``, ``mac_array``, ``vector``, ``host``,
``sram``); ``phase`` is ``begin``/``end`` (``alloc``/``free`` for SRAM); ``action`` says what the
block does (``load_weights``, ``load_input``, ``compute``, ``store``, ``tile`` or ``layer`` for
SRAM); ``layer``/``tile`` index the program; ``value`` is bytes moved or allocated (0 for compute).
"""
from __future__ import annotations

from typing import Iterator, NamedTuple


class Event(NamedTuple):
    t: int
    block: str
    phase: str
    action: str
    layer: int
    tile: int
    value: int = 0


class Span(NamedTuple):
    start: int
    end: int
    block: str
    action: str
    layer: int
    tile: int
    value: int


class Trace:
    """An append-only event log, injected into the engine."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, t: int, block: str, phase: str, action: str, layer: int, tile: int, value: int = 0) -> None:
        self.events.append(Event(int(t), block, phase, action, layer, tile, value))

    def __len__(self) -> int:
        return len(self.events)

    def spans(self) -> Iterator[Span]:
        """Begin/end pairs as spans, in order of their end."""
        open_: dict[tuple[str, str, int, int], Event] = {}
        for e in self.events:
            key = (e.block, e.action, e.layer, e.tile)
            if e.phase == "begin":
                open_[key] = e
            elif e.phase == "end":
                b = open_.pop(key)
                yield Span(b.t, e.t, e.block, e.action, e.layer, e.tile, b.value)

    def sram_levels(self) -> Iterator[tuple[int, int]]:
        """(time, bytes in use) after every allocation and release."""
        used = 0
        for e in self.events:
            if e.block == "sram":
                used += e.value if e.phase == "alloc" else -e.value
                yield e.t, used
