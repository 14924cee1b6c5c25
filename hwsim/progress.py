"""Progress of the long steps of a deployment: a bar redrawn in place on a terminal, plain lines in a
log, nothing at all when quiet.

The API takes a ``Progress`` and calls ``stage``/``track``; the CLI decides where (if anywhere) it
draws. Like tqdm, it writes to stderr, so stdout keeps only the summary a script may parse.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")
BAR_WIDTH = 24
MIN_REDRAW_S = 0.05  # a calibration of thousands of small batches must not spend its time drawing


class Stage:
    """One step of known length: ``advance`` as work completes; leaving the ``with`` ends the line."""

    def __init__(self, progress: Progress, label: str, total: int, unit: str):
        self.progress, self.label, self.total, self.unit = progress, label, max(int(total), 0), unit
        self.done = 0
        self.started = time.perf_counter()
        self._drawn_at = -MIN_REDRAW_S

    def __enter__(self) -> Stage:
        self.progress.draw(self, final=False)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:  # a step without countable parts is whole once it returns
            self.done = max(self.done, self.total)
        self.progress.draw(self, final=True, failed=exc_type is not None)

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._drawn_at >= MIN_REDRAW_S:
            self._drawn_at = now
            self.progress.draw(self, final=False)

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """Yield ``items``, advancing one step per item."""
        for item in items:
            yield item
            self.advance()

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


class Progress:
    """Draws stages on ``stream``: a live bar when ``live``, else one line per finished stage.

    ``Progress()`` (no stream) is silent, so library callers pay nothing for it.
    """

    def __init__(self, stream: TextIO | None = None, *, live: bool = False):
        self.stream, self.live = stream, live

    def stage(self, label: str, total: int = 1, unit: str = "") -> Stage:
        return Stage(self, label, total, unit)

    def track(self, items: Iterable[T], label: str, total: int, unit: str = "") -> Iterator[T]:
        """Yield ``items``, advancing a stage of ``total`` steps per item."""
        with self.stage(label, total, unit) as s:
            yield from s.track(items)

    def draw(self, stage: Stage, *, final: bool, failed: bool = False) -> None:
        if self.stream is None or (not final and not self.live):
            return
        line = render(stage, failed=failed) if final else render(stage)
        self.stream.write(f"\r\x1b[2K{line}" if self.live else line)
        self.stream.write("\n" if final else "")
        self.stream.flush()


def render(stage: Stage, *, failed: bool | None = None) -> str:
    """``hwsim: calibrate   [######......] 3/4 batches  0.2 s`` (a finished stage: ``done in 0.2 s``)."""
    total = stage.total or 1
    frac = min(stage.done / total, 1.0)
    filled = round(frac * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    tail = f"{stage.elapsed_s:.1f} s"
    if failed is not None:
        tail = "failed" if failed else f"done in {tail}"
    count = f"{min(stage.done, stage.total)}/{stage.total}" + (f" {stage.unit}" if stage.unit else "")
    return f"hwsim: {stage.label:<11} [{bar}] {count}  {tail}"
