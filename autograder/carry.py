"""Carrying a student's own earlier chapters into a later assignment (`python -m autograder
carry-over ch01_edges ch02_arithmetic`), for courses built with `nbgrader-course --earlier own`.

It runs in the students' image (no jupytext, no solutions): it copies function definitions
between two of the student's own package copies and nothing else.
"""

import ast
from pathlib import Path

from .chapters import CHAPTERS
from .chapters import chapter as find_chapter


def _function_spans(source, names, filename):
    """{name: (first line, end line)} (0-based, end exclusive, decorators included) of the
    top-level functions `names` in `source`."""
    spans = {}
    for node in ast.parse(source, filename).body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            spans[node.name] = (first, node.end_lineno)
    return spans


def carry_over(earlier_folder, later_folder):
    """Copy a student's own code of earlier chapters into a later assignment's package.

    `earlier_folder` and `later_folder` are assignment folders (each holding `cnnlab/`);
    `later_folder` is named after its chapter. Every function of the chapters before it is
    replaced, definition and decorators, by the one in `earlier_folder/cnnlab` (which must have
    it); nothing else changes. Returns the "module.function" names copied.
    """
    later_folder = Path(later_folder)
    later = find_chapter(later_folder.name)
    functions = [f for ch in CHAPTERS[: CHAPTERS.index(later)] for f in ch.functions]
    copied = []
    for module in sorted({f.split(".")[0] for f in functions}):
        names = {f.split(".")[1] for f in functions if f.startswith(module + ".")}
        source = (Path(earlier_folder) / "cnnlab" / f"{module}.py").read_text()
        target_path = later_folder / "cnnlab" / f"{module}.py"
        target = target_path.read_text()
        given, wanted = (_function_spans(source, names, f"{module}.py"),
                         _function_spans(target, names, f"{module}.py"))
        if set(given) != names or set(wanted) != names:
            missing = sorted(names - set(given)) or sorted(names - set(wanted))
            raise ValueError(f"cnnlab/{module}.py lacks {missing}: not a course package?")
        source_lines, lines = source.splitlines(), target.splitlines()
        for name in sorted(names, key=lambda n: wanted[n][0], reverse=True):
            first, end = wanted[name]
            lines[first:end] = source_lines[given[name][0]:given[name][1]]
        target_path.write_text("\n".join(lines) + "\n")
        copied += [f"{module}.{name}" for name in sorted(names)]
    return copied
