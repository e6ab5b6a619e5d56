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

from .forbidden import declarations, forbidden_message, violations
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    excinfo = call.excinfo
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
            message = crash.message if crash is not None else str(report.longrepr)
            shortcut = dict(report.user_properties).get("shortcut")
            if shortcut:
                message = shortcut
            elif getattr(report, "student_location", None):
                message += f"\n(raised at {report.student_location})"
        elif report.skipped:
            message = "skipped: a skipped test earns no points"
        _write({"event": "result", "test": report.nodeid.split("::")[-1],
                "passed": report.passed and report.when == "call", "message": message})


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
    session = _early.pop("session", None) or StudentSession(
        folder, isolation=request.config.getoption("isolation"))
    _write({"event": "isolation", "text": describe_isolation(session.isolation)})
    session.start()
    yield session.root()
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

