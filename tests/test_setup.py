"""The project's tools are found without an activated venv: nbgrader's `alembic` in particular."""

import os
import sqlite3
import subprocess
from pathlib import Path

from autograder import build
from autograder.processes import scripts_folder


def test_generate_assignment_finds_alembic_with_no_tools_on_path(tmp_path, monkeypatch):
    """nbgrader runs `alembic` from PATH; the project's own calls must not depend on the shell's."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    course = build.write_nbgrader_course(tmp_path / "course", chapters=build.CHAPTERS[:1])
    release = build.generate_assignment(course, build.CHAPTERS[0].name)
    assert (release / f"{build.CHAPTERS[0].name}.ipynb").is_file()
    tables = sqlite3.connect(course / "gradebook.db").execute(
        "select name from sqlite_master where type = 'table'").fetchall()
    assert ("alembic_version",) in tables  # a run without alembic leaves the gradebook without it


def test_nbgrader_run_unactivated_finds_alembic(tmp_path):
    """`.venv/bin/nbgrader ...` in the course folder, venv not activated: the config fixes PATH."""
    course = build.write_nbgrader_course(tmp_path / "course", chapters=build.CHAPTERS[:1])
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = subprocess.run(
        [str(Path(scripts_folder()) / "nbgrader"), "generate_assignment", build.CHAPTERS[0].name],
        cwd=course, capture_output=True, text=True, env={**os.environ, "PATH": str(empty)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "alembic" not in done.stderr
