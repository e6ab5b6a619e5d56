"""The README's set-up works on a fresh machine: tools found without an activated venv, and the
Learn command's JupyterLab reaches both the notebooks and the package files the learner edits."""

import os
import shlex
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

from readme import readme_block

from autograder import build
from autograder.processes import scripts_folder, tool_env
from autograder.reference import REPO


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_learn_command_serves_the_notebook_and_the_package(tmp_path):
    """JupyterLab started as the README's Learn command does: both files readable over its API."""
    (line,) = readme_block("learn-command")
    jupyter = line.split(" && ")[-1]
    program, *args = shlex.split(jupyter)
    assert program == ".venv/bin/jupyter"
    port, token = free_port(), "cnnlab-test-token"
    # The "browser" records what JupyterLab opens: a page that redirects to the first chapter.
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\ncat "${{1#file://}}" > {tmp_path / "opened.html"}\n')
    browser.chmod(0o755)
    command = [str(Path(scripts_folder()) / "jupyter"), *args,
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    command += ["--allow-root"] if os.geteuid() == 0 else []  # CI runs as root; learners do not
    env = tool_env(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
                   JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), BROWSER=str(browser))
    log = open(tmp_path / "lab.log", "w+")
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def get(path):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                             headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()

        deadline = time.monotonic() + 90
        while True:
            try:
                get("/api/status")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "lab.log").read_text()
                assert time.monotonic() < deadline, "JupyterLab did not start in 90 s"
                time.sleep(0.5)
        for path in ("course/ch01_edges.ipynb", "src/cnnlab/edges.py"):
            status, body = get(f"/api/contents/{path}?content=0")
            assert status == 200 and b'"path"' in body, path
        while not (tmp_path / "opened.html").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "/lab/tree/course/ch01_edges.ipynb" in (tmp_path / "opened.html").read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
