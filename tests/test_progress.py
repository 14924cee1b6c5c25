"""Progress of a deployment: bars on a terminal, a line per step in a log, silence when quiet."""
from __future__ import annotations

import io

import pytest

from hwsim.cli import main
from hwsim.compiler.program import Tile
from hwsim.progress import Progress
from hwsim.sim import run
from test_sim_engine import TARGET, _layer, _program
from test_sim_support import make_target


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_without_stream_writes_nothing_and_passes_items_through():
    assert list(Progress().track(iter("abc"), "calibrate", 3)) == ["a", "b", "c"]


def test_a_log_gets_one_line_per_finished_stage():
    log = io.StringIO()
    p = Progress(log)
    list(p.track(range(4), "calibrate", 4, "batches"))
    with p.stage("simulate", 7, "layers") as s:
        s.advance(7)
    lines = log.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["calibrate", "simulate"]
    assert "4/4 batches" in lines[0] and "done in" in lines[0] and "\r" not in log.getvalue()


def test_a_live_bar_is_redrawn_in_place_and_ends_with_a_newline():
    term = io.StringIO()
    with Progress(term, live=True).stage("evaluate", 2, "batches") as s:
        s.advance()
    text = term.getvalue()
    assert text.count("\r") >= 2 and text.endswith("\n")
    assert "2/2 batches" in text.split("\r")[-1]


def test_a_step_without_parts_is_complete_when_it_returns():
    log = io.StringIO()
    with Progress(log).stage("import"):
        pass
    assert "1/1" in log.getvalue()


def test_a_stage_that_raises_is_marked_failed():
    log = io.StringIO()
    with pytest.raises(ValueError):
        with Progress(log).stage("calibrate", 4):
            raise ValueError("bad batch")
    assert "failed" in log.getvalue() and "0/4" in log.getvalue()


def test_the_engine_reports_each_layer_once_as_it_finishes():
    tile = Tile(0, 0, 10, 10, 10, 100)
    program = _program(_layer(0, [tile, tile]), _layer(1, [tile], depends_on=(0,)), _layer(2, [tile, tile, tile]))
    finished = []
    run(program, make_target(**TARGET), on_layer_done=lambda: finished.append(len(finished)))
    assert finished == [0, 1, 2]


def test_deploy_verbose_prints_every_step_on_stderr(tmp_path, capsys):
    assert main(["deploy", "--out", str(tmp_path / "r"), "--verbose"]) == 0
    err = capsys.readouterr().err
    assert [line.split()[1] for line in err.splitlines()] == ["import", "calibrate", "simulate", "evaluate", "layer"]


def test_deploy_draws_no_bars_when_stdout_is_not_a_terminal(tmp_path, capsys):
    assert main(["deploy", "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "accuracy" in captured.out


def test_deploy_draws_bars_on_a_terminal(tmp_path, monkeypatch, capsys):
    term_out, term_err = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr("sys.stdout", term_out)
    monkeypatch.setattr("sys.stderr", term_err)
    assert main(["deploy", "--out", str(tmp_path / "r")]) == 0
    assert "\r" in term_err.getvalue() and "evaluate" in term_err.getvalue()
    assert "\r" not in term_out.getvalue()


def test_deploy_quiet_is_silent_even_on_a_terminal(tmp_path, monkeypatch):
    term_out, term_err = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr("sys.stdout", term_out)
    monkeypatch.setattr("sys.stderr", term_err)
    assert main(["deploy", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert term_err.getvalue() == "" and term_out.getvalue() == ""
