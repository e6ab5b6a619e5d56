"""The grading engine: run a chapter's pytest suite on a package and add up the points.

The same function serves the three ways of use:

- self-study: `python -m autograder grade ch01` prints the score table of your `cnnlab`;
- nbgrader: each graded notebook cell calls `check(...)`, whose return value (points earned) is the
  cell's partial credit, so the notebook grade equals the command's grade;
- CI: the project's tests grade the reference (full marks), the student edition (zero) and
  hand-made mutants (points lost).

Two sides. The suite runs in a fresh Python process (the trusted side: suite, plugin, reference,
comparisons, results), started from an empty folder with only the grader on its path; it never
imports the student's package. The student's code runs in a worker process of its own, sandboxed
where bubblewrap works (`autograder.sandbox`), reached through a proxy (`autograder.remote`): the
student's latest edits are imported, a crash or an endless loop costs the test it happened in, and
nothing the student's code does can reach the results.

A problem of the grader itself (no reference for the hidden tests, a sandbox that was asked for
and is missing, a worker that cannot start) raises GradingError: nothing is graded.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .chapters import chapter as find_chapter
from .mistakes import MARK
from .processes import tool_env
from .reference import REPO, reference_dir
from .sandbox import GradingError

SUITES = Path(__file__).resolve().parent / "suites"


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    test: str
    exercise: str
    points: float
    public: bool
    description: str
    passed: bool = False
    message: str = "not run: the test process ended before this test (a crash in the code?)"
    picture: dict | None = None  # expected vs got of a failed image case (feedback.picture)


@dataclass
class Report:
    chapter: str
    package: Path
    results: list = field(default_factory=list)
    problem: str = ""  # why the suite could not run to the end, if it did not
    seconds: float = 0.0
    isolation: str = ""  # how the student's code was isolated

    def exercises(self):
        return list(dict.fromkeys(r.exercise for r in self.results))

    def points(self, exercise=None):
        return sum(r.points for r in self._of(exercise) if r.passed)

    def max_points(self, exercise=None):
        return sum(r.points for r in self._of(exercise))

    def _of(self, exercise):
        return [r for r in self.results if exercise is None or r.exercise == exercise]

    def table(self):
        """The per-exercise score table with the total, then what failed and why."""
        width = max([len(e) for e in self.exercises()] + [8])
        lines = [f"{self.chapter} — graded {self.package}", ""]
        lines.append(f"{'exercise':<{width}}  tests   points")
        for exercise in self.exercises():
            results = self._of(exercise)
            passed = sum(r.passed for r in results)
            lines.append(
                f"{exercise:<{width}}  {passed:>2}/{len(results):<2}  "
                f"{self.points(exercise):5.1f} / {self.max_points(exercise):.1f}"
            )
        total, top = self.points(), self.max_points()
        percent = 100 * total / top if top else 0.0
        lines.append(f"{'total':<{width}}         {total:5.1f} / {top:.1f}  ({percent:.0f} %)")
        if self.problem:
            lines += ["", f"problem: {self.problem}"]
        if self.isolation:
            lines += ["", f"your code ran in: {self.isolation}"]
        failures = self._failures()
        if failures:
            lines += ["", "what to fix:", *failures]
        return "\n".join(lines)

    def feedback(self):
        """For a notebook's check cell: a line per passed test, then what failed and why."""
        return "\n".join([_feedback_line(r) for r in self.results if r.passed]
                         + self._failures())

    def _failures(self):
        """The failed tests' feedback, each distinct message once: an exercise whose every test
        says "... is yours to write" is one "not started" line; an error that several tests hit
        (a Numba typing error costs every test of its kernel) is shown once, with the tests it
        cost."""
        failed = [r for r in self.results if not r.passed]
        lines, done = [], set()
        for exercise in dict.fromkeys(r.exercise for r in failed):
            mine = self._of(exercise)
            if all(not r.passed and r.message.startswith("NotImplementedError") for r in mine):
                reasons = "; ".join(dict.fromkeys(r.message.strip().splitlines()[0] for r in mine))
                lines.append(f"✘ [{exercise}] not started: {len(mine)} tests, "
                             f"{self.max_points(exercise):g} pt ({reasons})")
                done.update(id(r) for r in mine)
            hints = {_hint(r) for r in failed if r.exercise == exercise}
            if len(hints) == 1 and "" not in hints:  # every failure: one known mistake
                mine = [r for r in failed if r.exercise == exercise]
                first = mine[0].message.strip().splitlines()[0]
                lines.append(f"✘ [{exercise}] {len(mine)} of {len(self._of(exercise))} tests "
                             f"failed ({sum(r.points for r in mine):g} pt), each as with a "
                             f"known mistake:")
                lines.append(f"      {hints.pop()} (your results equal this mistake's on every "
                             "call of these tests)")
                lines.append(f"      first failure: {first}")
                lines += [f"      - {r.description} ({r.points:g} pt)" for r in mine]
                done.update(id(r) for r in mine)
        by_message = {}
        for r in failed:
            if id(r) not in done:
                by_message.setdefault(r.message.strip(), []).append(r)
        for message, results in by_message.items():
            if len(results) == 1:
                lines.append(_feedback_line(results[0]))
                continue
            points = sum(r.points for r in results)
            lines.append(f"✘ one error, in {len(results)} tests ({points:g} pt):")
            lines.append("      " + message.replace("\n", "\n      "))
            lines.append("    the tests it cost:")
            lines += [f"      - [{r.exercise}] {r.description} ({r.points:g} pt)" for r in results]
        return lines

    def pictures(self):
        """(test description, picture data) of the failed tests that have one."""
        return [(r.description, r.picture) for r in self.results if not r.passed and r.picture]


def _hint(result):
    """The line of a failed test's message that names a known mistake, or ""."""
    line = next((line for line in result.message.splitlines() if line.startswith(MARK)), "")
    return line[len(MARK):].split(" (your results equal")[0]


def _feedback_line(result):
    mark = "✔" if result.passed else "✘"
    line = f"{mark} [{result.exercise}] {result.description} ({result.points:g} pt)"
    if not result.passed:
        message = result.message.strip().replace("\n", "\n      ")
        line += f"\n      {message}"
    return line


def show_pictures(report, limit=2):
    """In a notebook: expected, got and their difference as heatmaps, for the first failed
    image cases of `report` (drawn in the learner's kernel from the plain data of the report)."""
    shown = 0
    for description, data in report.pictures()[:limit]:
        try:
            import matplotlib.pyplot as plt
            import numpy as np

            from cnnlab.plots import show_grids
        except ImportError:
            return 0
        got, expected = np.array(data["got"]), np.array(data["expected"])
        index = f"[{', '.join(map(str, data['index']))}] " if data["index"] else ""
        axes = show_grids([expected, got, got - expected],
                          [f"expected {index}", f"got {index}", "got - expected"],
                          cmaps=[None, None, "coolwarm"])
        axes[0].figure.suptitle(f"{data['title']}\n({description})", fontsize=9)
        axes[0].figure.tight_layout()
        plt.show()
        shown += 1
    return shown


def default_package():
    """The folder of the `cnnlab` that `import cnnlab` finds from here (the learner's copy)."""
    spec = importlib.util.find_spec("cnnlab")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "no cnnlab package to grade: install the course (see README) or pass its folder"
        )
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def grade(chapter, package=None, exercises=(), public_only=False, timeout=900, progress=None,
          isolation=None, no_jit=False):
    """Grade the `cnnlab` package in folder `package` with the suite of `chapter`.

    Args:
        chapter: chapter name ("ch01_edges") or number prefix ("ch01").
        package: folder of the cnnlab package to grade; default: the one `import cnnlab` finds.
        exercises: only these exercises (default: all of the chapter).
        public_only: only the public checks (those that need no reference solution).
        timeout: seconds before the suite is stopped; unfinished tests earn nothing.
        progress: optional callable(done, total) called as results arrive.
        isolation: how to run the student's code: "auto" (default, CNNLAB_SANDBOX), "bwrap" or
            "process" (see autograder.sandbox).
        no_jit: run the student's code with NUMBA_DISABLE_JIT=1 (their kernels as plain Python:
            Python tracebacks, and the feedback shows what the code printed).

    Returns:
        a Report with one TestResult per test.

    Raises:
        GradingError: the grader cannot grade (no reference for hidden tests, no worker, no
            sandbox where one was asked for).
    """
    ch = find_chapter(chapter)
    package = Path(package).resolve() if package else default_package()
    if not (package / "__init__.py").is_file():
        raise FileNotFoundError(f"{package} is not a package folder (no __init__.py)")
    if not public_only:
        try:
            reference_dir()
        except FileNotFoundError as error:
            raise GradingError(f"{error}; for the public checks only, use --public") from None
    report = Report(ch.name, package)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "results.jsonl"
        empty = Path(tmp) / "cwd"  # the working folder: nothing in it to import or configure
        empty.mkdir()
        command = [
            sys.executable, "-m", "pytest", str(SUITES / f"test_{ch.name}.py"),
            "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES),
            "--package", str(package), "--grade-report", str(log), "-q", "--no-header",
        ]
        command += [f"--exercise={e}" for e in exercises]
        command += ["--public-only"] if public_only else []
        command += [f"--isolation={isolation}"] if isolation else []
        command += ["--no-jit"] if no_jit else []
        env = tool_env(PYTHONPATH=str(REPO),
                       # Only our plugin: auto-loading every installed plugin doubles start-up.
                       PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
                       CNNLAB_NO_JIT="1" if no_jit else "0")  # read by sandbox.worker_env
        for name in ("PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE"):
            env.pop(name, None)
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=empty, env=env, text=True, errors="replace",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        tail = deque(maxlen=40)  # read as it comes: a full pipe would stall the suite
        reader = threading.Thread(target=lambda: tail.extend(process.stdout), daemon=True)
        reader.start()
        try:
            while process.poll() is None:
                if progress:
                    _read_results(log, report, progress)
                if time.perf_counter() - start > timeout:
                    process.kill()
                    report.problem = f"stopped after {timeout} s (an endless loop?)"
                    break
                time.sleep(0.1)
            process.wait()
            reader.join(5)
        finally:
            if process.poll() is None:
                process.kill()
        report.seconds = time.perf_counter() - start
        fatal = _read_results(log, report, progress)
    if fatal:
        raise GradingError(fatal)
    if not report.results and not report.problem:
        lines = "\n".join(line.rstrip()[:300] for line in list(tail)[-15:])
        report.problem = f"the suite did not run:\n{lines}"
    elif process.returncode not in (0, 1) and not report.problem:
        report.problem = f"the test process ended with code {process.returncode} (a crash?)"
    return report


def _read_results(log, report, progress=None):
    """Update `report` from the results file; the first fatal problem's message, if any."""
    if not log.exists():
        return ""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    fatal = ""
    for record in records:
        if record["event"] == "collected" and not report.results:
            report.results = [TestResult(**test) for test in record["tests"]]
        elif record["event"] == "isolation":
            report.isolation = record["text"]
        elif record["event"] == "fatal" and not fatal:
            fatal = record["message"]
    by_name = {r.test: r for r in report.results}
    outcomes = {}
    for record in records:
        if record["event"] == "result" and record["test"] in by_name:
            passed, message, picture = outcomes.get(record["test"], (True, "", None))
            if not record["passed"]:
                passed, message = False, message or record["message"]
                picture = picture or record.get("picture")
            outcomes[record["test"]] = (passed, message, picture)
    for name, (passed, message, picture) in outcomes.items():
        by_name[name].passed = passed
        by_name[name].message = message
        by_name[name].picture = picture
    if progress:
        progress(len(outcomes), len(report.results))
    return fatal


def check(chapter, exercise, hidden=False, package=None):
    """A notebook's graded cell: grade one exercise, print the feedback, return the points.

    The visible cell runs the public checks; nbgrader's hidden-test part of the same cell calls it
    again with hidden=True to run every test of the exercise. Output goes to stdout only: nbgrader
    scores a cell that writes to stderr as 0.

    During `nbgrader autograde` (NBGRADER_EXECUTION=autograde) the notebook's kernel grades
    nothing and returns 0.0: the score comes from the trusted side (autograder.nbgrader_trusted),
    which regrades the package apart from the notebook, replaces this value and flags a cell that
    returned another one. (0, not None: without TrustedGrade nbgrader would give no-output cells
    full marks.)
    """
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        print(f"{exercise}: graded by the grading machine, apart from this notebook")
        return 0.0
    which = "all tests" if hidden else "public checks"

    shown = []

    def status(done, total):  # one line, rewritten in place as tests finish: the cell is alive
        if shown[-1:] != [(done, total)]:
            shown.append((done, total))
            print(f"\rchecking {exercise} ({which}): {done} of {total} tests done ",
                  end="", flush=True)

    status(0, "?")
    report = grade(chapter, package=package, exercises=[exercise], public_only=not hidden,
                   progress=status)
    print("\r" + " " * 70 + "\r", end="", flush=True)
    if hidden:
        print(f"{exercise}: all tests, {report.points():g} of {report.max_points():g} points")
    else:
        print(f"{exercise}: public checks, {report.points():g} of {report.max_points():g} points "
              f"(hidden tests add more when this is graded; the whole suite: "
              f"python -m autograder grade {report.chapter.split('_')[0]})")
    print(report.feedback())
    if report.problem:
        print(f"problem: {report.problem}")
    if "ipykernel" in sys.modules:  # a notebook: draw the first failed image cases
        show_pictures(report)
    if not report.results:
        return 0.0
    return float(report.points())
