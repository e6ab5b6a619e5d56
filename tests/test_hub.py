"""A real course hub: JupyterHub 6, the whole nbgrader assignment cycle over HTTP, and a browser.

The hub comes from `python -m autograder hub-config` (autograder/hub.py), listens on 127.0.0.1 on
free ports, and every user's server starts from the students' image: a venv made from the built
wheel (student editions, engine, public checks; no solutions/), which test_student_image_* checks.
The instructor's server gets the reference package (a copy in the instructor's home) through
CNNLAB_REFERENCE, as a grading server would.

As root the users are real Unix users (`cnnXXXX-<name>`, created and removed here) with PAM
passwords, so the exchange's permissions are those of separate users; elsewhere every server runs
as this user with a shared password (said in the test output). Students of the HTTP cycle:

- `ada` writes the reference code of chapter 1: full marks;
- `bob` changes nothing: 0;
- `cy` writes correlate2d only: that exercise's points.

`dee` works in the browser (log in, Assignments tab, fetch, run a check cell); the instructor then
sees the gradebook in the formgrader. Screenshots are saved in test-artifacts/hub/.

Under CI=true a missing piece (jupyterhub, the proxy, playwright, chromium) fails instead of
skipping: .ci/setup-system and the README's install provide them.
"""

import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from fresh import missing

from autograder import build
from autograder.chapters import CHAPTERS
from autograder.processes import tool_env
from autograder.reference import REPO

CHAPTER = CHAPTERS[0].name  # chapter 1: the fastest cycle
PARTIAL = ({"edges.correlate2d", "edges._correlate2d_valid"}, 6)  # cy's functions and points
ARTIFACTS = REPO / "test-artifacts" / "hub"
# Unix user names made by this test: one prefix per run, so that two runs at once (two xdist
# workers, two checkouts on one machine) never share, recreate or remove each other's users.
PREFIX = f"cnn{uuid.uuid4().hex[:4]}-"
INSTRUCTOR, STUDENTS, BROWSER_STUDENT = "ines", ("ada", "bob", "cy"), "dee"
AS_ROOT = os.geteuid() == 0
CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.xdist_group("hub")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def system_tool(name):
    """The full path of a system administration tool (useradd lives in /usr/sbin, which a CI
    PATH of /usr/local/bin:/usr/bin:/bin leaves out), or None."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin",
                                                     "/sbin"]))


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def image_env():
    """The environment of a command run in the students' image: nothing of this test's Python
    (a PYTHONPATH would make pip skip the wheel's cnnlab as "already satisfied")."""
    env = tool_env()
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "CNNLAB_REFERENCE", "PYTHONHOME"):
        env.pop(name, None)
    return env


def world_runnable(path):
    """Whether a user other than root can run the file at `path` (every folder on the way
    searchable, the file itself readable and executable by others)."""
    path = Path(path).resolve()
    if not path.is_file() or path.stat().st_mode & 0o005 != 0o005:
        return False
    return all(p.stat().st_mode & 0o001 for p in path.parents)


def base_python():
    """A Python to build the image venv from: one that every user can run (a venv made from a
    Python under /root, mode 700, gives the students' servers "bad interpreter")."""
    candidates = [getattr(sys, "_base_executable", sys.executable), "/usr/bin/python3"]
    for candidate in candidates:
        if candidate and Path(candidate).exists() and (not AS_ROOT or world_runnable(candidate)):
            return str(Path(candidate).resolve())
    return None


# ---------------------------------------------------------------------------------------------
# The students' image: a venv from the built wheel.


@pytest.fixture(scope="module")
def workdir():
    """A folder every test user can traverse (pytest's own tmp folders are mode 700 as root)."""
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-hub-", dir="/tmp"))
    folder.chmod(0o755)
    print(f"hub test folder: {folder}")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def image_spec():
    """The pip requirement of environment.yml, the students' image spec (`.[hub]`)."""
    text = (REPO / "environment.yml").read_text()
    (spec,) = re.findall(r"^\s*-\s*(\.\[[a-z,]+\])\s*$", text, re.M)
    return spec


@pytest.fixture(scope="module")
def image(workdir):
    """Build the students' image as environment.yml says (its pip line, `.` being the wheel)."""
    reuse = os.environ.get("CNNLAB_TEST_IMAGE")  # a developer's shortcut: an image built before
    if reuse:
        print(f"reusing the students' image {reuse} (CNNLAB_TEST_IMAGE)")
        return Path(reuse)
    python = base_python()
    if python is None:
        missing("a Python every user can run (e.g. Debian's /usr/bin/python3)")
    wheels = workdir / "wheel"
    start = time.perf_counter()
    run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)],
        env=tool_env())
    (wheel,) = wheels.glob("cnnlab-*.whl")
    prefix = workdir / "image"
    run([python, "-m", "venv", str(prefix)])
    requirement = image_spec().replace(".", str(wheel), 1)
    run([str(prefix / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", requirement], env=image_env())
    print(f"students' image ({requirement}) built in {time.perf_counter() - start:.0f} s")
    return prefix


def solution_bodies():
    """The text of every solution region of the reference package (stripped lines, joined)."""
    bodies = []
    for path in sorted((REPO / "solutions" / "cnnlab").glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for begin, end, function in build.solution_regions(source, path.name):
            body = " ".join(line.strip() for line in lines[begin + 1 : end] if line.strip())
            bodies.append((f"{path.stem}.{function}", body))
    return bodies


def test_student_image_holds_no_solution_hidden_test_or_reference(image):
    """Nothing in the students' image holds or imports the solutions."""
    assert not re.search(r"^\s*-\s*-e\s", (REPO / "environment.yml").read_text(), re.M)
    texts = {}
    for path in image.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".ipynb", ".txt", ".json", ".md", ""}:
            try:
                texts[path] = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
    assert not [p for p in image.rglob("solutions") if p.is_dir()]
    flat = {p: " ".join(line.strip() for line in t.splitlines() if line.strip())
            for p, t in texts.items()}
    for name, body in solution_bodies():
        holders = [p for p, t in flat.items() if body in t]
        assert not holders, f"the solution of {name} is readable in {holders}"
    (record,) = image.glob("lib/python*/site-packages/cnnlab-*.dist-info/RECORD")
    ours = {(record.parent.parent / line.split(",")[0]).resolve()
            for line in record.read_text().splitlines() if line}
    assert any(p.name == "edges.py" for p in ours)
    for path, text in texts.items():
        if path.resolve() not in ours:  # other packages' own tests use nbgrader's markers
            continue
        lines = {line.strip() for line in text.splitlines()}
        for marker in build.LEAK_MARKERS:
            assert marker not in lines, f"{path}: {marker}"
        if path.suffix == ".ipynb":
            assert not re.search(r"hidden\s*=\s*True", text), f"{path}: a hidden test"
    probe = """
import importlib.util, sys
import cnnlab, autograder.reference as r
assert importlib.util.find_spec("cnnlab_reference") is None
try:
    r.load_reference()
except FileNotFoundError as e:
    print("no reference:", e)
else:
    sys.exit("the reference is importable")
from autograder.chapters import CHAPTERS
import inspect
for ch in CHAPTERS:
    for f in ch.functions:
        module, name = f.split(".")
        source = inspect.getsource(getattr(getattr(cnnlab, module), name))
        assert "NotImplementedError" in source, f
print("stubs only:", cnnlab.__file__)
"""
    done = run([str(image / "bin" / "python"), "-c", probe], env=image_env(), cwd=image)
    assert "no reference" in done.stdout and "stubs only" in done.stdout


def test_student_image_grades_public_checks_without_the_reference(image):
    """The image has what a student's check cell needs: the engine and the public checks."""
    done = subprocess.run([str(image / "bin" / "python"), "-m", "autograder", "grade", "ch01",
                           "--public"], capture_output=True, text=True, env=image_env(), cwd=image)
    assert "total" in done.stdout and "0.0 /" in done.stdout, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# The hub.


class Users:
    """The test's users: real Unix users as root (removed afterwards), else names only."""

    def __init__(self, folder):
        self.folder = folder
        self.password = uuid.uuid4().hex
        self.created = []
        self.names = {name: (PREFIX + name if AS_ROOT else name)
                      for name in (INSTRUCTOR, *STUDENTS, BROWSER_STUDENT)}

    def __getitem__(self, name):
        return self.names[name]

    def home(self, name):
        return self.folder / "home" / self.names[name]

    def create(self):
        (self.folder / "home").mkdir(mode=0o755)
        for name, user in self.names.items():
            home = self.home(name)
            if not AS_ROOT:
                home.mkdir()
                continue
            self.remove_user(user)
            run([system_tool("useradd"), "--create-home", "--home-dir", str(home),
                 "--shell", "/bin/bash", "--user-group", user])
            self.created.append(user)
            run([system_tool("chpasswd")], input=f"{user}:{self.password}\n")
            home.chmod(0o700)
        if AS_ROOT:  # the hub's PAM login must accept them; say so here rather than at login
            import pamela

            for user in self.created:
                for attempt in (1, 2):
                    try:
                        pamela.authenticate(user, self.password, service="login")
                        break
                    except pamela.PAMError as error:
                        if attempt == 2:
                            raise RuntimeError(f"PAM refuses the password just set for {user}: "
                                               f"{error}") from error
                        print(f"PAM refused {user}'s new password ({error}); setting it again")
                        run([system_tool("chpasswd")], input=f"{user}:{self.password}\n")

    def uid(self, name):
        return pwd.getpwnam(self.names[name]).pw_uid

    def gid(self, name):
        return pwd.getpwnam(self.names[name]).pw_gid

    def stop_processes(self):
        """End what is still running as a test user (by process id)."""
        for user in self.created:
            try:
                uid = pwd.getpwnam(user).pw_uid
            except KeyError:
                continue
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    if proc.stat().st_uid == uid:
                        os.kill(int(proc.name), 9)
                except (OSError, ValueError):
                    continue

    @staticmethod
    def remove_user(user):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return
        subprocess.run([system_tool("userdel"), "--remove", user], capture_output=True)

    def remove(self):
        self.stop_processes()
        for user in self.created:
            self.remove_user(user)

    def as_user(self, name, command):
        """Run a shell command as a test user (root only); returns the CompletedProcess."""
        return subprocess.run([system_tool("runuser"), "-u", self.names[name], "--", "sh", "-c",
                               command],
                              capture_output=True, text=True)


@pytest.fixture(scope="module")
def hub(workdir, image):
    """A running course hub; stopped (with every server it started) at teardown."""
    try:
        import jupyterhub  # noqa: F401
        import requests  # noqa: F401
        import websocket  # noqa: F401
    except ImportError as error:
        missing(f"the hub extra ({error.name}: pip install '.[hub]')")
    from autograder.hub import default_proxy, write_hub_config

    try:
        proxy = default_proxy()
    except FileNotFoundError as error:
        missing(str(error))
    if AS_ROOT:
        for tool in ("useradd", "userdel", "chpasswd", "runuser"):
            if not system_tool(tool):
                missing(f"{tool} (to create the test's Unix users)")
    else:
        print("NOTE: not root: every server runs as this one Unix user (shared-password login); "
              "the exchange's permissions between separate users are not exercised")
    users = Users(workdir)
    try:
        users.create()
        course = users.home(INSTRUCTOR) / "cnnlab-course"
        build.write_nbgrader_course(course, chapters=[CHAPTERS[0]])
        reference = users.home(INSTRUCTOR) / "cnnlab-reference"
        shutil.copytree(REPO / "solutions" / "cnnlab", reference,
                        ignore=shutil.ignore_patterns("__pycache__"))
        if AS_ROOT:
            shutil.chown(users.home(INSTRUCTOR), users[INSTRUCTOR], users[INSTRUCTOR])
            for path in users.home(INSTRUCTOR).rglob("*"):
                os.chown(path, users.uid(INSTRUCTOR), users.gid(INSTRUCTOR), follow_symlinks=False)
        port = free_port()
        config = write_hub_config(
            workdir / "hub", instructors=[users[INSTRUCTOR]],
            students=[users[s] for s in (*STUDENTS, BROWSER_STUDENT)], course_root=course,
            reference=reference, image=image, port=port, hub_port=free_port(),
            proxy_api_port=free_port(), proxy=proxy,
            authenticator="pam" if AS_ROOT else "shared-password",
            shared_password=None if AS_ROOT else users.password,
        )
        if not AS_ROOT:  # SimpleLocalProcessSpawner's homes are the test's homes
            (workdir / "hub" / "homes").symlink_to(workdir / "home")
        log = open(workdir / "hub" / "jupyterhub.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=config.parent,
            stdout=log, stderr=subprocess.STDOUT, env=tool_env(), start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_hub(url, process, workdir / "hub" / "jupyterhub.log")
            yield Hub(url, users, course, workdir / "hub", process)
        finally:
            stop(process)
            log.close()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(workdir / "hub" / "jupyterhub.log", ARTIFACTS / "jupyterhub.log")
            print(f"hub log (with every server's): {ARTIFACTS / 'jupyterhub.log'}")
    finally:
        users.remove()


def wait_for_hub(url, process, log, timeout=120):
    import requests

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/hub/api", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the hub did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


def stop(process, timeout=60):
    """Stop the hub (SIGTERM: it stops every user's server and the proxy), then its group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, 9)
    except ProcessLookupError:
        pass
    process.wait()


class Hub:
    def __init__(self, url, users, course, folder, process):
        self.url, self.users, self.course, self.folder = url, users, course, folder
        self.process = process

    def login(self, name):
        """A Session logged in as `name` through the hub's login form, with a running server."""
        return Session(self, name)


class Session:
    """One user's browser-like HTTP session: hub login form, OAuth to their server, XSRF."""

    def __init__(self, hub, name):
        import requests

        self.hub, self.name, self.user = hub, name, hub.users[name]
        self.http = requests.Session()
        page = self.http.get(f"{hub.url}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = self.http.cookies.get("_xsrf", path="/hub/")
        done = self.http.post(f"{hub.url}/hub/login?next=", timeout=60, data={
            "username": self.user, "password": hub.users.password, "_xsrf": xsrf})
        assert done.ok and "/hub/login" not in done.url, (
            f"login as {self.user} failed ({done.status_code}); hub log:\n"
            + "\n".join((hub.folder / "jupyterhub.log").read_text().splitlines()[-8:]))
        self.base = f"{hub.url}/user/{self.user}"
        self.start_server()

    def start_server(self, timeout=300):
        start = time.perf_counter()
        self.http.get(f"{self.hub.url}/hub/spawn", timeout=60)
        while time.perf_counter() - start < timeout:
            response = self.http.get(f"{self.base}/lab", timeout=60)
            if response.ok and response.url.startswith(self.base):
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"{self.user}'s server did not start in {timeout} s")
        self.xsrf = self.http.cookies.get("_xsrf", path=f"/user/{self.user}/")
        assert self.xsrf, "the server set no _xsrf cookie"

    def request(self, method, path, timeout=60, **kwargs):
        response = self.http.request(method, f"{self.base}/{path}", timeout=timeout,
                                     headers={"X-XSRFToken": self.xsrf}, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:1000]}"
        return response.json() if response.content else None

    # nbgrader's formgrader API (the instructor's server)
    def formgrader(self, path, method="POST", timeout=900):
        result = self.request(method, f"formgrader/api/{path}", timeout=timeout)
        if isinstance(result, dict) and "success" in result:
            assert result["success"], f"formgrader {path}: {json.dumps(result)[:3000]}"
        return result

    # nbgrader's assignment-list API (a student's server)
    def assignments(self, action=None):
        if action is None:
            return self.request("GET", "assignments?course_id=cnnlab")
        result = self.request("POST", f"assignments/{action}", timeout=300,
                              data={"course_id": "cnnlab", "assignment_id": CHAPTER})
        if isinstance(result, dict) and "success" in result:
            assert result["success"], f"{action}: {json.dumps(result)[:3000]}"
        return result

    # the contents API
    def read(self, path):
        return self.request("GET", f"api/contents/{path}?content=1")

    def write(self, path, text):
        return self.request("PUT", f"api/contents/{path}",
                            json={"type": "file", "format": "text", "content": text})

    def run_cells(self, notebook, sources, timeout=600):
        """Run code cells in a kernel of a session on `notebook`, over the kernel websocket, as
        JupyterLab does; return each cell's text output (streams, results, errors)."""
        import websocket

        session = self.request("POST", "api/sessions", json={
            "path": notebook, "type": "notebook", "name": Path(notebook).name,
            "kernel": {"name": "python3"}})
        kernel = session["kernel"]["id"]
        ws_url = self.base.replace("http://", "ws://") + (
            f"/api/kernels/{kernel}/channels?session_id={uuid.uuid4().hex}")
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        ws = websocket.create_connection(ws_url, cookie=cookies, timeout=timeout,
                                         header=[f"X-XSRFToken: {self.xsrf}"])
        outputs = []
        try:
            for source in sources:
                outputs.append(execute(ws, source, timeout))
        finally:
            ws.close()
            self.request("DELETE", f"api/sessions/{session['id']}")
        return outputs


def execute(ws, code, timeout):
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": False},
    }))
    text, start = [], time.perf_counter()
    while time.perf_counter() - start < timeout:
        message = json.loads(ws.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            text.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            text.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            text.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(text)
    raise TimeoutError(f"cell did not finish in {timeout} s: {code[:80]}")


def solved(source, module, functions):
    """The student edition of a module with the reference code of `functions`."""
    return build.strip_module(source, module, lambda f: f"{module}.{f}" not in functions)


def notebook_cells_up_to(notebook, grade_id):
    """The code cells of a notebook up to and including the graded cell `grade_id`."""
    sources = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        sources.append("".join(cell["source"]))
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return sources
    raise ValueError(f"no cell {grade_id}")


def max_points():
    cells = build.instructor_notebook(CHAPTER).cells
    return sum(c.metadata["nbgrader"]["points"] for c in cells
               if c.metadata.get("nbgrader", {}).get("grade"))


@pytest.fixture(scope="module")
def released(hub):
    """The instructor generates and releases chapter 1 through the formgrader API."""
    start = time.perf_counter()
    instructor = hub.login(INSTRUCTOR)
    instructor.formgrader(f"assignment/{CHAPTER}/assign")  # generate_assignment
    instructor.formgrader(f"assignment/{CHAPTER}/release")
    print(f"instructor's server, generate, release: {time.perf_counter() - start:.0f} s")
    return instructor


@pytest.fixture(scope="module")
def cycle(hub, released):
    """The whole assignment cycle over HTTP; returns the grades and what students saw."""
    timings, start = {}, time.perf_counter()
    instructor = released
    edits = {
        "ada": set(CHAPTERS[0].functions),
        "bob": set(),
        "cy": PARTIAL[0],
    }
    seen = {}
    for name in STUDENTS:
        student = hub.login(name)
        listed = student.assignments()
        assert any(a["assignment_id"] == CHAPTER and a["status"] == "released"
                   for a in listed["value"]), listed
        student.assignments("fetch")
        notebook = student.read(f"{CHAPTER}/{CHAPTER}.ipynb")["content"]
        for path in sorted((REPO / "solutions" / "cnnlab").glob("*.py")):
            if edits[name]:
                student.write(f"{CHAPTER}/cnnlab/{path.name}",
                              solved(path.read_text(), path.stem, edits[name]))
        where = "import os, sys, cnnlab; print(os.getcwd(), cnnlab.__file__, sys.path)"
        outputs = student.run_cells(f"{CHAPTER}/{CHAPTER}.ipynb",
                                    [where, *notebook_cells_up_to(notebook, "check_correlate2d")])
        assert f"{CHAPTER}/cnnlab/__init__.py" in outputs[0], outputs[0]  # the student's copy
        seen[name] = outputs[-1]
        student.assignments("submit")
        timings[f"{name} (fetch, edit, run, submit)"] = time.perf_counter() - start
    instructor.formgrader(f"assignment/{CHAPTER}/collect")
    for name in STUDENTS:
        instructor.formgrader(f"submission/{CHAPTER}/{hub.users[name]}/autograde")
    timings["collect + autograde"] = time.perf_counter() - start
    submissions = instructor.formgrader(f"submissions/{CHAPTER}", method="GET")
    grades = {s["student"]: s["score"] for s in submissions}
    instructor.formgrader(f"assignment/{CHAPTER}/generate_feedback")
    instructor.formgrader(f"assignment/{CHAPTER}/release_feedback")
    feedback = {}
    for name in STUDENTS:
        student = hub.login(name)
        student.assignments("fetch_feedback")
        folder = student.read(f"{CHAPTER}/feedback")["content"]
        (stamp,) = [entry["name"] for entry in folder]
        feedback[name] = student.read(f"{CHAPTER}/feedback/{stamp}/{CHAPTER}.html")["content"]
    timings["feedback"] = time.perf_counter() - start
    print("hub cycle timings (cumulative s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"grades: {grades}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "check-cells.json").write_text(json.dumps(seen, indent=1, ensure_ascii=False))
    return {"grades": grades, "seen": seen, "feedback": feedback, "instructor": instructor}


def test_only_the_instructors_server_may_be_framed(hub, released):
    """The formgrader tab is an iframe of the instructor's own server: its pages allow
    frame-ancestors 'self'; a student's server keeps JupyterHub's 'none'."""
    formgrader = released.http.get(f"{released.base}/formgrader", timeout=60)
    assert formgrader.ok and "frame-ancestors 'self'" in formgrader.headers[
        "Content-Security-Policy"]
    student = hub.login("bob")
    lab = student.http.get(f"{student.base}/lab", timeout=60)
    assert "frame-ancestors 'none'" in lab.headers["Content-Security-Policy"]
    assert student.http.get(f"{student.base}/formgrader", timeout=60).status_code == 404


def test_grades_of_the_hub_cycle(hub, cycle):
    grades = {name: cycle["grades"][hub.users[name]] for name in STUDENTS}
    assert grades == {"ada": max_points(), "bob": 0, "cy": PARTIAL[1]}


def test_students_saw_their_check_cell_feedback(cycle):
    seen = cycle["seen"]
    assert "✔" in seen["ada"] and "✘" not in seen["ada"], seen["ada"]
    assert "✘" in seen["bob"] and "✔" not in seen["bob"], seen["bob"]
    assert "✔" in seen["cy"] and "✘" not in seen["cy"], seen["cy"]


def test_each_student_fetched_their_own_feedback(hub, cycle):
    for name, html in cycle["feedback"].items():
        assert CHAPTER in html and "Score" in html, name
    assert "✘" in cycle["feedback"]["bob"] and "✘" in cycle["feedback"]["cy"]


def test_exchange_permissions_between_separate_users(hub, cycle):
    if not AS_ROOT:
        pytest.skip("not root: one Unix user for everyone; exchange permissions not exercised")
    exchange = hub.folder / "exchange"
    course = exchange / "cnnlab"
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777
    assert course.stat().st_uid == hub.users.uid(INSTRUCTOR)
    inbound = course / "inbound"
    submitted = {p.name.split("+")[0] for p in inbound.iterdir()}
    assert {hub.users[s] for s in STUDENTS} <= submitted
    for path in inbound.iterdir():  # each submission belongs to its student
        assert path.stat().st_uid == pwd.getpwnam(path.name.split("+")[0]).pw_uid
    ls = hub.users.as_user("bob", f"ls {inbound}")
    assert ls.returncode != 0, f"a student can list the others' submissions: {ls.stdout}"
    moved = hub.users.as_user("bob", f"mv {course} {exchange}/stolen")
    assert moved.returncode != 0 and course.is_dir(), "a student could rename the course folder"
    peek = hub.users.as_user("bob", f"cat {hub.course}/nbgrader_config.py")
    assert peek.returncode != 0, "a student can read the instructor's course folder"


# ---------------------------------------------------------------------------------------------
# A real browser.


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright for Python (pip install '.[test]')")
    if not Path(CHROMIUM).exists():
        missing(f"Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/setup-system)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {ARTIFACTS}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox"] if AS_ROOT else [])
        yield browser
        browser.close()


def browser_login(browser, hub, name):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", hub.users[name])
    page.fill("#password_input", hub.users.password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{re.escape(hub.users[name])}/lab.*"), timeout=300_000)
    page.wait_for_selector("#jp-main-dock-panel", state="visible")
    return page


def check_cell_index():
    """The position of chapter 1's first check cell among all the notebook's cells."""
    cells = json.loads((REPO / "course" / f"{CHAPTER}.ipynb").read_text())["cells"]
    return next(i for i, c in enumerate(cells)
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "check_correlate2d")


def screenshot_on_failure(page, name):
    path = ARTIFACTS / f"failed-{name}.png"
    page.screenshot(path=str(path))
    print(f"failure screenshot: {path}")


def test_browser_student_fetches_and_sees_check_feedback(hub, released, browser):
    page = browser_login(browser, hub, BROWSER_STUDENT)
    try:
        page.click("text=Nbgrader")  # Lab's menu of nbgrader's extensions
        page.click("text=Assignment List")
        released_list = page.locator("#released_assignments_list")
        released_list.get_by_text(CHAPTER).wait_for()
        released_list.get_by_role("button", name="Fetch").click()
        fetched = page.locator("#fetched_assignments_list")
        fetched.locator("a.assignment-notebooks-link").click()  # unfold its notebooks
        fetched.locator(".nested_list_item a", has_text=CHAPTER).click()
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=300_000)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        for _ in range(check_cell_index() + 1):  # run cell by cell through the check cell
            page.keyboard.press("Shift+Enter")
            page.wait_for_timeout(400)
        output = page.locator(".jp-OutputArea-output", has_text="correlate2d: public checks")
        output.wait_for(timeout=180_000)
        output.scroll_into_view_if_needed()
        path = ARTIFACTS / "student-check-feedback.png"
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        text = output.inner_text()
        assert "✘" in text and "NotImplementedError" in text, text  # dee wrote nothing yet
    except Exception:
        screenshot_on_failure(page, "student")
        raise
    finally:
        page.close()


def test_browser_instructor_sees_the_gradebook(hub, cycle, browser):
    """The formgrader tab is not blank (frame-ancestors) and its students' table shows the
    cycle's grades."""
    page = browser_login(browser, hub, INSTRUCTOR)
    try:
        page.click("text=Nbgrader")
        page.click("text=Formgrader")
        frame = page.frame_locator("#formgrader-iframe iframe")
        # A blocked iframe (frame-ancestors 'none') stays empty: this times out.
        frame.get_by_text("Manage Assignments").first.wait_for(timeout=60_000)
        frame.get_by_role("link", name="Manage Students").first.click()  # the grade table
        frame.locator("tr", has_text=hub.users["ada"]).first.wait_for(timeout=60_000)
        path = ARTIFACTS / "instructor-gradebook.png"
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        for name, points in [("ada", max_points()), ("bob", 0), ("cy", PARTIAL[1])]:
            row = frame.locator("tr", has_text=hub.users[name]).first.inner_text()
            assert f"{points:g} / {max_points():g}" in row, (name, row)
    except Exception:
        screenshot_on_failure(page, "instructor")
        raise
    finally:
        page.close()
