"""The pytest plugin behind every grading suite (loaded by autograder/suites/pytest.ini).

It provides the `student` and `reference` fixtures, the `grade` and `public` markers, selects
the exercises asked for, and streams one JSON line per test to --grade-report.

This process is the trusted side: it holds the suite, the reference, the comparisons and the
results, and never imports the student's package. `student` is a proxy (`autograder.remote`) to a
worker process that imports it (sandboxed, see `autograder.sandbox`). A problem of the grader
itself (no reference, no worker, no sandbox) is a "fatal" record: the engine grades nothing.
"""

import json
import sys
from pathlib import Path

import pytest

from .feedback import picture, trim_numba_error
from .forbidden import declarations, forbidden_message, violations
from .mistakes import Mistakes, hint_text
from .reference import load_reference
from .remote import StudentError, StudentSession
from .sandbox import GradingError, describe_isolation


def pytest_addoption(parser):
    group = parser.getgroup("cnnlab grading")
    group.addoption("--package", help="folder of the cnnlab package to grade (the student's)")
    group.addoption("--exercise", action="append", default=[], help="grade only this exercise")
    group.addoption("--public-only", action="store_true", help="only the public checks")
    group.addoption("--grade-report", help="write one JSON line per test result here")
    group.addoption("--isolation", help="worker isolation: auto, bwrap or process")
    group.addoption("--no-jit", action="store_true",
                    help="the student's code ran with NUMBA_DISABLE_JIT=1: show what it printed")


def pytest_configure(config):
    config.addinivalue_line("markers", "grade(exercise, points): the exercise a test grades")
    config.addinivalue_line("markers", "public: a check the learner sees (needs no reference)")


def grade_marker(item):
    marker = item.get_closest_marker("grade")
    if marker is None:
        raise pytest.UsageError(f"{item.nodeid} has no @pytest.mark.grade(exercise, points=...)")
    exercise = marker.args[0] if marker.args else marker.kwargs["exercise"]
    return exercise, float(marker.kwargs["points"])


def describe(item):
    exercise, points = grade_marker(item)
    public = item.get_closest_marker("public") is not None
    if public and "reference" in item.fixturenames:
        raise pytest.UsageError(f"{item.nodeid} is public but uses the reference package")
    doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
    if hasattr(item, "callspec"):
        doc += f" [{item.callspec.id}]"
    return {"test": item.name, "exercise": exercise, "points": points, "public": public,
            "description": doc}


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("exercise"))
    public_only = config.getoption("public_only")
    keep = [
        item for item in items
        if (not wanted or grade_marker(item)[0] in wanted)
        and (not public_only or item.get_closest_marker("public"))
    ]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
    _write({"event": "collected", "tests": [describe(i) for i in items]})
    _shortcuts.clear()
    package = config.getoption("package")
    for module in dict.fromkeys(item.module for item in items) if package else ():
        declared = declarations(getattr(module, "FORBIDDEN", {}), package)
        every = {f for functions, _ in declared.values() for f in functions}
        for exercise, (functions, forbidden) in declared.items():
            calls = violations(package, functions, forbidden, others=every)
            if calls:
                _shortcuts[exercise] = forbidden_message(exercise, calls)


_shortcuts = {}  # exercise -> why it earns nothing (a forbidden call in the student's source)


def pytest_runtest_setup(item):
    exercise, _ = grade_marker(item)
    if exercise in _shortcuts:
        item.user_properties.append(("shortcut", _shortcuts[exercise]))
        pytest.fail(_shortcuts[exercise], pytrace=False)


_report_path = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    global _report_path
    _report_path = session.config.getoption("grade_report")


def _write(record):
    if _report_path:
        with open(_report_path, "a") as f:
            f.write(json.dumps(record) + "\n")


_session = None  # the StudentSession of the `student` fixture
_mistakes = {}  # chapter -> Mistakes (the known mistakes of its exercises)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # Record the test's calls of the student's package, to replay them on the known mistakes.
    if _session is not None:
        _session.recording = []
        worker = _session.worker
        item.printed_from = (worker, len(worker.output.head)) if worker and worker.output else None
    yield


def _name_mistake(item, calls):
    """The feedback line naming the known mistake the student's failed test matches, or ""."""
    exercise, _ = grade_marker(item)
    chapter = item.module.__name__.rpartition(".")[2].removeprefix("test_")
    if chapter not in _mistakes:
        _mistakes[chapter] = Mistakes(chapter)
    found = _mistakes[chapter].name(exercise, calls)
    return hint_text(found, calls) if found else ""


def _printed(item):
    """What the student's code printed during the test (with --no-jit), its last lines."""
    start = getattr(item, "printed_from", None)
    if not start or _session is None or _session.worker is not start[0]:
        return ""
    worker, offset = start
    worker.output.join(0.2)  # the prints of the last call may still be in the pipe
    lines = worker.output.head[offset:].decode(errors="replace").rstrip().splitlines()
    if not lines:
        return ""
    shown = [line[:200] for line in lines[-15:]]
    more = f" (its last 15 of {len(lines)} lines)" if len(lines) > 15 else ""
    return "your code printed" + more + ":\n" + "\n".join("  " + line for line in shown)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    excinfo = call.excinfo
    if call.when == "call" and _session is not None:
        calls, _session.recording = _session.recording or [], None
        if report.failed and excinfo is not None and not excinfo.errisinstance(GradingError):
            try:
                report.mistake = _name_mistake(item, calls)
            except Exception as error:  # naming a mistake must never cost a grade
                report.mistake = ""
                print(f"cnnlab: no mistake named ({type(error).__name__}: {error})",
                      file=sys.stderr)
            if not report.mistake:
                report.picture = picture(excinfo.value)
            if item.config.getoption("no_jit"):
                report.printed = _printed(item)
    if excinfo is None:
        return
    if excinfo.errisinstance(GradingError):
        _write({"event": "fatal", "message": str(excinfo.value)})
        item.session.shouldstop = str(excinfo.value)
    elif excinfo.errisinstance(StudentError) and excinfo.value.student_traceback:
        where = [line for line in excinfo.value.student_traceback if line.startswith("File")]
        if where and excinfo.value.remote_type != "NotImplementedError":
            report.student_location = where[-1]


def pytest_runtest_logreport(report):
    # A test earns its points only if its call passed and no phase failed; a skip earns nothing.
    if _report_path and (report.when == "call" or not report.passed):
        message = ""
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = trim_numba_error(crash.message if crash is not None
                                       else str(report.longrepr))
            shortcut = dict(report.user_properties).get("shortcut")
            if shortcut:
                message = shortcut
            elif getattr(report, "student_location", None):
                message += f"\n(raised at {report.student_location})"
            if getattr(report, "mistake", "") and not shortcut:  # the hint says it better
                message = message.split("\n  got:\n")[0] + "\n" + report.mistake
            if getattr(report, "printed", "") and not shortcut:
                message += "\n" + report.printed
        elif report.skipped:
            message = "skipped: a skipped test earns no points"
        record = {"event": "result", "test": report.nodeid.split("::")[-1],
                  "passed": report.passed and report.when == "call", "message": message}
        if getattr(report, "picture", None):
            record["picture"] = report.picture
        _write(record)


def pytest_sessionfinish(session):
    # The invariant of the design, checked: no module of the student's package got in here.
    leaked = sorted(m for m in sys.modules if m == "cnnlab" or m.startswith("cnnlab."))
    if leaked:
        _write({"event": "fatal", "message": f"the grading process imported {leaked[0]}"})


@pytest.fixture(scope="session")
def student(request):
    """The package under grade, in a worker process: a proxy with the surface of `cnnlab`."""
    folder = request.config.getoption("package")
    if not folder:
        raise pytest.UsageError("--package (the folder of the cnnlab package to grade) is required")
    folder = Path(folder).resolve()
    if not (folder / "__init__.py").is_file():
        raise GradingError(f"{folder} is not a package folder (no __init__.py)")
    global _session
    session = _early.pop("session", None) or StudentSession(
        folder, isolation=request.config.getoption("isolation"))
    _write({"event": "isolation", "text": describe_isolation(session.isolation)})
    session.start()
    _session = session
    yield session.root()
    _session = None
    session.close()


_early = {}  # the session whose worker starts while pytest collects


def pytest_collection(session):
    # Start the student's worker now: its interpreter, NumPy and Numba load while this process
    # collects the suite and imports the reference.
    folder = session.config.getoption("package")
    if folder and (Path(folder) / "__init__.py").is_file():
        try:
            early = StudentSession(Path(folder).resolve(),
                                   isolation=session.config.getoption("isolation"))
            early.launch()
        except GradingError:
            return  # the `student` fixture reports it
        _early["session"] = early


def pytest_collection_finish(session):
    # While the student's worker starts, import the reference (and Numba with it) here: the two
    # processes load side by side instead of one after the other.
    if session.items and not session.config.getoption("public_only"):
        try:
            load_reference()
        except Exception:
            pass  # the `reference` fixture reports it


def pytest_unconfigure(config):
    early = _early.pop("session", None)
    if early is not None:
        early.close()


@pytest.fixture(scope="session")
def reference():
    """The reference package (the instructor's solutions), imported as `cnnlab_reference`."""
    try:
        return load_reference()
    except FileNotFoundError as error:
        raise GradingError(str(error)) from None

