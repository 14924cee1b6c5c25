"""Report directories: never overwritten without force, and never half-written."""
import pytest

from hwsim.errors import ReportError
from hwsim.report.files import write_report_dir


def test_writes_every_file(tmp_path):
    out = write_report_dir(tmp_path / "r", {"a.json": "{}", "b.bin": b"\x00"})
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.bin"]


def test_existing_directory_is_not_overwritten(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keep.txt").write_text("mine")
    with pytest.raises(ReportError, match="--force"):
        write_report_dir(tmp_path / "r", {"a.json": "{}"})
    assert (tmp_path / "r" / "keep.txt").read_text() == "mine"


def test_force_replaces_a_report_directory(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "report.md").write_text("old")
    write_report_dir(tmp_path / "r", {"a.json": "{}"}, force=True)
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["a.json"]


def test_force_refuses_a_directory_with_other_files(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "thesis.tex").write_text("mine")
    with pytest.raises(ReportError, match="thesis.tex"):
        write_report_dir(tmp_path / "r", {"a.json": "{}"}, force=True)
    assert (tmp_path / "r" / "thesis.tex").read_text() == "mine"


def test_force_refuses_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReportError, match="current directory"):
        write_report_dir(tmp_path, {"a.json": "{}"}, force=True)


def test_unwritable_location_is_a_report_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match="cannot create"):
        write_report_dir(tmp_path / "file" / "r", {"a.json": "{}"})


def test_failure_midway_leaves_nothing_behind(tmp_path):
    files = {"a.json": "{}", "b.json": 42}  # an int cannot be written: the second file fails
    with pytest.raises(TypeError):
        write_report_dir(tmp_path / "r", files)
    assert list(tmp_path.iterdir()) == []
