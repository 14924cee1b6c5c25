"""Write a report directory all at once: files go to a temporary sibling, which is renamed into place.

An interrupted run leaves the user's old directory (if any) untouched and no half-written report.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from hwsim.errors import ReportError


# What --force may replace: a directory holding nothing but files a report run writes.
REPORT_FILES = frozenset({"report.json", "report.md", "report.html", "trace.json"})


def check_writable(out: Path, *, force: bool) -> None:
    """Fail before any work is done if ``out`` exists and may not be replaced."""
    if not out.exists():
        return
    if not force:
        raise ReportError(f"{out}: already exists; choose another --out or pass --force to replace it")
    if not out.is_dir():
        raise ReportError(f"{out}: exists and is not a directory; choose another --out")
    if out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise ReportError(f"{out}: is the current directory or contains it; choose a subdirectory for --out")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in REPORT_FILES)
    if foreign:
        raise ReportError(f"{out}: --force replaces only report directories, but it holds '{foreign[0]}'; choose another --out")


def write_report_dir(out: Path, files: Mapping[str, str | bytes], *, force: bool = False) -> Path:
    out = Path(out)
    check_writable(out, force=force)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a report directory is an ordinary one
    except OSError as e:
        raise ReportError(f"{out}: cannot create the report directory ({e.strerror}); choose another --out") from None
    try:
        for name, content in files.items():
            target = staging / name
            if isinstance(content, str):
                target.write_text(content, encoding="utf-8")
            else:
                target.write_bytes(content)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            try:
                os.replace(out, trash / out.name)
                os.replace(staging, out)
            finally:
                if (trash / out.name).exists() and not out.exists():
                    os.replace(trash / out.name, out)  # put the old report back
                shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except OSError as e:
        raise ReportError(f"{out}: cannot write the report ({e.strerror}); choose another --out") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out
