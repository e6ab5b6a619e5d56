"""The course build: generate the student editions from `solutions/`.

    python -m autograder build            # rewrite src/cnnlab and course/ from solutions/
    python -m autograder build --check    # fail if the committed copies differ from a fresh build
    python -m autograder nbgrader-course DIR   # an nbgrader course directory for instructors

Two kinds of student edition come out of one source:

- the package: every `### BEGIN SOLUTION` … `### END SOLUTION` region in `solutions/cnnlab`
  becomes a stub raising NotImplementedError (regions of earlier chapters stay as reference code in
  an assignment's own package copy);
- the notebooks: `solutions/notebooks/<chapter>.py` (jupytext) becomes the instructor notebook in an
  nbgrader `source/<chapter>/` folder, and nbgrader's own `generate_assignment` makes the student
  notebook from it (solutions cleared, hidden tests removed, cells locked and checksummed).
"""

import ast
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat

from .chapters import CHAPTERS
from .processes import tool_env
from .reference import REPO

SOLUTIONS = REPO / "solutions"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# Given code that only the reference runs (its fast paths): no edition built from solutions/ gets
# it, so a student's edition always runs the student's code (and earlier chapters' reference code
# in an assignment's package copy takes the chapter's own path).
REFERENCE_BEGIN, REFERENCE_END = "### BEGIN REFERENCE ONLY", "### END REFERENCE ONLY"
LEAK_MARKERS = (BEGIN, END, HIDDEN_BEGIN, HIDDEN_END, REFERENCE_BEGIN, REFERENCE_END)
REFERENCE_MODULES = ("_fast_depthwise",)  # given modules that only reference-only regions use
STUB = 'raise NotImplementedError("{function} is yours to write: cnnlab/{module}.py")'
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def chapter_of_function():
    """Map "module.function" to the index of the chapter whose students write it."""
    owner = {}
    for index, ch in enumerate(CHAPTERS):
        for function in ch.functions:
            if function in owner:
                raise ValueError(f"{function} is listed in two chapters")
            owner[function] = index
    return owner


def solution_regions(source, filename):
    """Yield (begin_line, end_line, function_name) for each solution region (0-based lines)."""
    lines = source.splitlines()
    functions = [
        node for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    begin = None
    for number, line in enumerate(lines):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise ValueError(f"{filename}:{number + 1}: nested {BEGIN}")
            begin = number
        elif marker == END:
            if begin is None:
                raise ValueError(f"{filename}:{number + 1}: {END} without {BEGIN}")
            enclosing = [f for f in functions if f.lineno <= begin + 1 <= f.end_lineno]
            if not enclosing:
                raise ValueError(f"{filename}:{begin + 1}: solution region outside a function")
            innermost = max(enclosing, key=lambda f: f.lineno)
            yield begin, number, innermost.name
            begin = None
    if begin is not None:
        raise ValueError(f"{filename}:{begin + 1}: {BEGIN} without {END}")


def strip_module(source, module, stub_function):
    """The student edition of one module's source.

    `stub_function(name)` says whether the region in function `name` becomes a stub; the other
    regions keep their code and lose only the marker lines. Reference-only regions go whole.
    """
    lines = source.splitlines()
    out, last = [], 0
    for begin, end, function in solution_regions(source, f"{module}.py"):
        out.extend(lines[last:begin])
        if stub_function(function):
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(indent + STUB.format(function=function, module=module))
        else:
            out.extend(lines[begin + 1 : end])
        last = end + 1
    out.extend(lines[last:])
    return "\n".join(without_reference_only(out, module)) + "\n"


def without_reference_only(lines, module):
    """`lines` without the reference-only regions, their markers included."""
    out, inside = [], False
    for number, line in enumerate(lines):
        marker = line.strip()
        if marker in (REFERENCE_BEGIN, REFERENCE_END):
            if inside == (marker == REFERENCE_BEGIN):
                raise ValueError(f"{module}.py: {marker} out of order (near line {number + 1})")
            inside = marker == REFERENCE_BEGIN
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{module}.py: {REFERENCE_BEGIN} without {REFERENCE_END}")
    return out


def build_package(dest, stubbed_chapters):
    """Write the package to `dest`, with the regions of `stubbed_chapters` (indices) as stubs."""
    owner = chapter_of_function()
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    seen = set()
    for path in sorted((SOLUTIONS / "cnnlab").glob("*.py")):
        module = path.stem
        if module in REFERENCE_MODULES:
            continue
        source = path.read_text()

        def stub_function(function, module=module):
            name = f"{module}.{function}"
            if name not in owner:
                raise ValueError(f"{name} has a solution region but no chapter in chapters.py")
            seen.add(name)
            return owner[name] in stubbed_chapters

        (dest / path.name).write_text(strip_module(source, module, stub_function))
    missing = set(owner) - seen
    if missing:
        raise ValueError(f"chapters.py lists functions with no solution region: {sorted(missing)}")


def instructor_notebook(chapter_name):
    """Read solutions/notebooks/<chapter>.py into an instructor notebook with stable cell ids."""
    nb = jupytext.read(SOLUTIONS / "notebooks" / f"{chapter_name}.py")
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell["id"] = grade_id or f"{chapter_name}-{index:03d}"
    nbformat.validate(nb)
    return nb


# What an assignment's package copy holds for the exercises of earlier chapters (README: "Earlier
# chapters in later assignments").
EARLIER = {
    "reference": "the reference code: one early bug does not cascade into later grades, but every "
                 "later release hands out the earlier chapters' solutions",
    "own": "stubs: each student carries their own earlier code over (python -m autograder "
           "carry-over), no release holds a solution, and later grades build on the student's code",
}


def write_nbgrader_course(root, chapters=CHAPTERS, earlier="reference", exchange=None):
    """Lay out an nbgrader course directory at `root`: config plus one source folder a chapter.

    Each assignment carries its own package copy next to the notebook: this chapter's and later
    chapters' exercises are stubs; earlier chapters' are the reference code (`earlier=
    "reference"`) or stubs too (`earlier="own"`: the student brings their own, see carry_over).
    `exchange` (a folder) is written into the config as nbgrader's Exchange.root; None keeps
    nbgrader's default.
    """
    if earlier not in EARLIER:
        raise ValueError(f"earlier must be one of {sorted(EARLIER)}, not {earlier!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    settings = "" if exchange is None else f", exchange={str(Path(exchange).expanduser())!r}"
    (root / "nbgrader_config.py").write_text(
        "# The course's nbgrader settings live in autograder/nbgrader_settings.py.\n"
        "from autograder.nbgrader_settings import configure\n\n"
        f"configure(get_config(){settings})  # noqa: F821 (nbgrader defines get_config)\n"
    )
    for ch in chapters:
        index = CHAPTERS.index(ch) if earlier == "reference" else 0
        source = root / "source" / ch.name
        if source.exists():
            shutil.rmtree(source)
        build_package(source / "cnnlab", stubbed_chapters=set(range(index, len(CHAPTERS))))
        nbformat.write(instructor_notebook(ch.name), source / f"{ch.name}.ipynb")
    return root


def generate_assignment(course_root, chapter_name):
    """Run nbgrader's own generate_assignment; return the release folder of the assignment."""
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", chapter_name,
         "--force", "--log-level=WARN"],
        cwd=course_root, check=True, env=tool_env(),
    )
    return Path(course_root) / "release" / chapter_name


def build(out_root=REPO):
    """Regenerate `<out_root>/src/cnnlab` and `<out_root>/course` from solutions/."""
    out_root = Path(out_root)
    build_package(out_root / "src" / "cnnlab", stubbed_chapters=set(range(len(CHAPTERS))))
    course = out_root / "course"
    course.mkdir(exist_ok=True)
    for old in course.glob("*.ipynb"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        write_nbgrader_course(tmp)
        for ch in CHAPTERS:
            release = generate_assignment(tmp, ch.name)
            shutil.copy(release / f"{ch.name}.ipynb", course / f"{ch.name}.ipynb")


def differences(a, b):
    """Relative paths that differ between folders a and b (ignoring __pycache__)."""
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__", ".ipynb_checkpoints"])
    found = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    for sub, sub_cmp in cmp.subdirs.items():
        found += [f"{sub}/{p}" for p in differences(sub_cmp.left, sub_cmp.right)]
    return sorted(found)


def leaks(root=REPO):
    """Solution markers or hidden tests found in the student editions under `root`."""
    found = []
    root = Path(root)
    for path in sorted([*(root / "src").rglob("*.py"), *(root / "course").rglob("*.ipynb")]):
        text = path.read_text()
        found += [f"{path.relative_to(root)}: {m}" for m in LEAK_MARKERS if m in text]
        if path.suffix == ".ipynb" and re.search(r"hidden\s*=\s*True", text):
            found.append(f"{path.relative_to(root)}: a hidden test call")
    return found


def check(root=REPO):
    """Problems with the committed student editions: drift from a fresh build, and leaks."""
    problems = [f"leak: {leak}" for leak in leaks(root)]
    with tempfile.TemporaryDirectory() as tmp:
        build(tmp)
        for part in ("src/cnnlab", "course"):
            problems += [
                f"drift: {part}/{p} differs from a fresh build (run: python -m autograder build)"
                for p in differences(Path(root) / part, Path(tmp) / part)
            ]
    return problems
