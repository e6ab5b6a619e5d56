"""nbgrader's grade from the trusted side: a preprocessor of `nbgrader autograde`, after Execute.

nbgrader scores a graded code cell by the value its last run printed (`execute_result`), and that
run happens in a kernel that executes the student's notebook and imports the student's package:
whatever the kernel says is the student's to forge. `TrustedGrade` therefore regrades the
submission's `cnnlab/` with the grading engine (suite here, student's code in the sandboxed
worker) and replaces the outputs of each graded `check_<exercise>` cell with the trusted
feedback and points, so that SaveAutoGrades stores the trusted score.

In autograde, an honest `check()` in the kernel grades nothing and returns 0.0 (the hidden
tests need the reference, which only the trusted side has). A graded cell whose kernel run
returned another value (a redefined `check`, a patched `__main__.check`, an edited cell) is
flagged in that cell's feedback and in the instructor's report,
`trusted_grades/<assignment>/<student>.json` beside the gradebook (`python -m autograder
report <assignment>` prints them).

If the grader cannot grade (no reference, no worker, a requested sandbox missing), the
preprocessor raises: nbgrader stops that submission with the error and writes no grade for it.
"""

import json
import time
from pathlib import Path
from urllib.parse import urlparse

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Unicode

from .engine import Report, grade

CHECK_PREFIX = "check_"
HONEST_KERNEL_VALUE = "0.0"  # what check() returns in the kernel during autograde


def report_folder(db_url, assignment):
    """`trusted_grades/<assignment>` beside the gradebook of `db_url` (sqlite:///...)."""
    path = urlparse(db_url).path if db_url.startswith("sqlite") else ""
    base = Path(path).parent if path else Path.cwd()
    return base / "trusted_grades" / assignment


def kernel_value(cell):
    """What a cell's kernel run returned: its execute_result text, "error: <name>", or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"error: {output.get('ename', '')}"
        if output.get("output_type") == "execute_result":
            return str(output.get("data", {}).get("text/plain", ""))[:200]
    return None


class TrustedGrade(Preprocessor):
    """Regrade the submission's package on the trusted side; write the points into each graded
    cell (see the module's docstring)."""

    enabled = Bool(True).tag(config=True)
    package_folder = Unicode("cnnlab", help="the package folder inside a submission").tag(
        config=True)
    isolation = Unicode("", help="worker isolation: auto, bwrap or process (default: "
                                 "CNNLAB_SANDBOX, else auto)").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment"), info.get("student")
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        cells = {}
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                cells[meta.get("grade_id", "")] = cell
        start = time.perf_counter()
        package = folder / self.package_folder
        if (package / "__init__.py").is_file():
            report = grade(assignment, package=package, isolation=self.isolation or None)
            problem = report.problem
        else:
            report = Report(assignment, package)
            problem = f"no {self.package_folder}/ package in the submission"
        rows = []
        for grade_id, cell in cells.items():
            rows.append(self._regrade(cell, grade_id, report, problem))
        record = {"assignment": assignment, "student": student, "isolation": report.isolation,
                  "problem": problem, "seconds": round(time.perf_counter() - start, 1),
                  "points": sum(r["trusted"] for r in rows),
                  "max_points": sum(r["max_points"] for r in rows),
                  "flagged": [r["cell"] for r in rows if r["flagged"]], "cells": rows}
        out = report_folder(info.get("db_url", ""), assignment)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{student}.json").write_text(json.dumps(record, indent=1))
        return nb, resources

    def _regrade(self, cell, grade_id, report, problem):
        max_points = float(cell.metadata.nbgrader.get("points", 0))
        exercise = grade_id[len(CHECK_PREFIX):] if grade_id.startswith(CHECK_PREFIX) else None
        kernel = kernel_value(cell)
        results = [r for r in report.results if r.exercise == exercise]
        if exercise is None or (not results and not problem):
            # Not an exercise of the suite: nothing trusted to grade it with, so no points.
            trusted, lines = 0.0, [
                f"{grade_id}: not a check cell of the grading suite; scored 0 by the trusted "
                "grader (grade it by hand)"]
        else:
            trusted = min(float(report.points(exercise)), max_points)
            lines = [f"{exercise}: {trusted:g} of {max_points:g} points (trusted grader: the "
                     "course's tests, run on your cnnlab/ package apart from your notebook)"]
            lines += _feedback(report, exercise)
            if problem:
                lines.append(f"problem: {problem}")
        flagged = kernel not in (None, HONEST_KERNEL_VALUE) and not kernel.startswith("error: ")
        if flagged:
            lines.append(f"⚠ note: this cell's run in your notebook returned {kernel}, where "
                         "the course's check() returns 0.0 during grading; the grade above "
                         "is the trusted one, and the instructor sees this note")
        cell.outputs = [
            new_output("stream", name="stdout", text="\n".join(lines) + "\n"),
            new_output("execute_result", data={"text/plain": repr(trusted)}, execution_count=1),
        ]
        return {"cell": grade_id, "exercise": exercise, "max_points": max_points,
                "trusted": trusted, "kernel": kernel, "flagged": flagged}


def _feedback(report, exercise):
    one = Report(report.chapter, report.package,
                 [r for r in report.results if r.exercise == exercise])
    return one.feedback().splitlines()


def print_report(folder):
    """The instructor's table of one assignment's trusted grades; returns the number flagged."""
    records = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
    if not records:
        print(f"no trusted grades in {folder} (run nbgrader autograde first)")
        return 0
    print(f"{'student':<20} {'points':>13}  flagged cells")
    for r in records:
        flags = ", ".join(r["flagged"]) or "-"
        print(f"{r['student']:<20} {r['points']:6g} / {r['max_points']:<5g} {flags}")
    print(f"\nisolation: {records[0].get('isolation') or 'unknown'}")
    flagged = [r for r in records if r["flagged"]]
    print(f"{len(flagged)} of {len(records)} submissions have cells whose notebook value differs "
          "from an honest run (see each student's feedback)")
    return len(flagged)
