"""The README's Learn command, on a fresh machine: a venv made from `.[lab]` alone, JupyterLab
rooted at the repository, and what the learner sees in a real browser (headless Chromium).

The Lab must serve both the notebooks and the package files the learner edits, open chapter 1,
and show none of nbgrader's instructor tools nor the Jupyter-news pop-up. The screenshot is saved
in test-artifacts/learner-lab/.
"""

import os
import shlex
import socket
import subprocess
import time
import urllib.request

import pytest
from fresh import copy_of_repository, missing, new_shell_env, readme_block, run_script

from autograder.reference import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("learner-lab")]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "learner-lab"
TOKEN = "cnnlab-learner-token"
# What nbgrader's Lab extensions show an instructor; a learner's Lab has none of it.
INSTRUCTOR_TOOLS = ("Nbgrader", "Formgrader", "Create Assignment", "Validate")
NEWS = "get notified about"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The Learn command run in a copy of the repository: its install, then its JupyterLab (on
    127.0.0.1, a free port, a known token); stopped at the end. Yields (url, folder)."""
    root = tmp_path_factory.mktemp("learner")
    repo, home = copy_of_repository(root / "repo"), root / "home"
    home.mkdir()
    (line,) = readme_block("learn-command")
    *install, jupyter = line.split(" && ")
    run_script([" && ".join(install)], cwd=repo, env=new_shell_env(home))
    program, *args = shlex.split(jupyter)
    assert program == ".venv/bin/jupyter"
    # The "browser" records what JupyterLab opens: a page that redirects to the first chapter.
    browser = root / "browser"
    browser.write_text(f'#!/bin/sh\ncat "${{1#file://}}" > {root / "opened.html"}\n')
    browser.chmod(0o755)
    port = free_port()
    command = [str(repo / program), *args, "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={TOKEN}"]
    command += ["--allow-root"] if os.geteuid() == 0 else []  # CI runs as root; learners do not
    log = open(root / "lab.log", "w")
    server = subprocess.Popen(command, cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                              env=new_shell_env(home) | {"BROWSER": str(browser)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not (root / "opened.html").exists():
            assert server.poll() is None, (root / "lab.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not start in 90 s"
            time.sleep(0.5)
        yield url, root
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def get(url, path):
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_lab_serves_the_notebooks_and_the_package_and_opens_chapter_1(lab):
    url, root = lab
    for path in ("course/ch01_edges.ipynb", "src/cnnlab/edges.py"):
        status, body = get(url, f"/api/contents/{path}?content=0")
        assert status == 200 and b'"path"' in body, path
    assert "/lab/tree/course/ch01_edges.ipynb" in (root / "opened.html").read_text()


def test_browser_shows_the_package_files_and_no_instructor_tools(lab):
    url, _ = lab
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright for Python (pip install '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/setup-system)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/lab/tree/src/cnnlab?token={TOKEN}")
            listing = page.locator(".jp-DirListing-itemText", has_text="edges.py")
            listing.first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # time for start-up toasts (the news question) to show
            page.screenshot(path=str(ARTIFACTS / "learner-lab.png"))
            menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
            assert "File" in menus, menus
            text = page.locator("body").inner_text()
        finally:
            browser.close()
    for name in ("conv.py", "pooling.py"):
        assert name in text, f"{name} not in the file browser"
    shown = [tool for tool in INSTRUCTOR_TOOLS if tool in menus or tool in text]
    assert not shown, f"the learner's Lab shows instructor tools: {shown}"
    assert NEWS not in text, "the Jupyter-news pop-up is shown"
