"""No library shortcuts: the calls an exercise must not make, found in the student's source.

A suite declares, per exercise, the package functions that hold the student's code and the
dotted names they must not use:

    FORBIDDEN = {"correlate2d": (("edges.correlate2d", "edges._correlate2d_valid"),
                                 ("scipy.signal", "numpy.convolve", "torch", ...))}

The trusted side reads the student's files as text and parses them (`ast`; nothing is imported or
run), resolves every name used in those functions through the module's imports (`np.convolve` →
numpy.convolve, `from scipy import signal` → scipy.signal...) and follows calls into other
functions of the same file that the student wrote (a helper does not hide a call), but not into
another exercise's functions (checked on their own). Given code (the functions the course ships
outside the exercises, unchanged) is exempt. An `import` of a forbidden
module inside those functions, and `importlib.import_module` / `__import__` of one by name, count
too. An exercise with a forbidden call earns 0, with a message naming the call.
"""

import ast
from functools import cache
from pathlib import Path

from .chapters import CHAPTERS
from .reference import REPO, reference_location


def _dotted(node):
    """'np.lib.stride_tricks' for an Attribute/Name chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _aliases(statements, package):
    """name -> dotted module path, from the import statements among `statements`."""
    names = {}
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([package, *([base] if base else [])])
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
    return names


def _matches(name, forbidden):
    return next((f for f in forbidden if name == f or name.startswith(f + ".")), None)


class _Module:
    def __init__(self, path):
        self.tree = ast.parse(Path(path).read_text(), filename=str(path))
        self.functions = {n.name: n for n in self.tree.body
                          if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.aliases = _aliases(ast.walk(self.tree), "cnnlab")


def violations(package, functions, forbidden, given=None, others=()):
    """Forbidden calls in `functions` ("module.function") of package folder `package`.

    Args:
        package: folder of the student's cnnlab.
        functions: the exercise's functions, "edges.correlate2d".
        forbidden: dotted names ("scipy.signal", "numpy.convolve").
        given: "module.function" -> ast.dump of the given code as shipped (not searched).
        others: functions of other exercises (checked on their own, not followed into).

    Returns:
        one text per forbidden use:
        "scipy.signal.convolve` (scipy.signal) at edges.py line 12, in correlate2d".
    """
    given = given_functions() if given is None else given
    modules, found, seen, hits = {}, [], set(), set()
    todo = list(functions)
    while todo:
        qualified = todo.pop()
        if qualified in seen or (qualified in others and qualified not in functions):
            continue
        seen.add(qualified)
        module_name, _, function = qualified.partition(".")
        path = Path(package) / f"{module_name}.py"
        if module_name not in modules:
            plain = path.is_file() and not path.is_symlink() and path.stat().st_size < 5 << 20
            try:
                modules[module_name] = _Module(path) if plain else None
            except (SyntaxError, ValueError, UnicodeDecodeError):
                modules[module_name] = None  # the tests report a file that does not parse
        module = modules[module_name]
        if module is None or function not in module.functions:
            continue
        node = module.functions[function]
        if given.get(qualified) == ast.dump(node):
            continue  # given code, as shipped (an edited given function is searched)
        local = {**module.aliases, **_aliases(ast.walk(node), "cnnlab")}
        for sub in ast.walk(node):
            name = None
            if isinstance(sub, (ast.Attribute, ast.Name)):
                dotted = _dotted(sub)
                if dotted:
                    head, _, rest = dotted.partition(".")
                    if head in local:
                        name = ".".join(filter(None, [local[head], rest]))
                    if isinstance(sub, ast.Name) and sub.id in module.functions:
                        todo.append(f"{module_name}.{sub.id}")
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in sub.names] if isinstance(sub, ast.Import) else [
                    f"{sub.module}.{a.name}" for a in sub.names]
                name = next((m for m in mods if _matches(m, forbidden)), None)
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                name = sub.value if _matches(sub.value, forbidden) else None  # import_module
            hit = _matches(name, forbidden) if name else None
            if hit and (path.name, sub.lineno, hit) not in hits:  # the longest name comes first
                hits.add((path.name, sub.lineno, hit))
                found.append(f"{name}` ({hit}) at {path.name} line {sub.lineno}, in {function}")
    return found


@cache
def given_functions():
    """"module.function" of the package's given code: functions the course ships (reference or
    student edition) that hold no exercise."""
    exercises = {f for ch in CHAPTERS for f in ch.functions}
    given = {}
    for folder in (REPO / "src" / "cnnlab", reference_location()):
        for path in Path(folder).glob("*.py") if Path(folder).is_dir() else ():
            try:
                module = _Module(path)
            except (OSError, SyntaxError, ValueError):
                continue
            for name, node in module.functions.items():
                if f"{path.stem}.{name}" not in exercises:
                    given.setdefault(f"{path.stem}.{name}", ast.dump(node))
    return given


def declarations(suite_forbidden, package):
    """A suite's FORBIDDEN as {exercise: (functions, forbidden names)}.

    Each value is either (functions, forbidden) or only the forbidden names; then the exercise's
    functions are those named like it: `<module>.<exercise>` in the package, and the registry's
    functions whose name holds every word of the exercise's (`grouped_conv2d_forward` →
    `conv._conv2d_forward_grouped`). A forbidden name of one of the package's own modules
    (`conv.conv2d_forward`) means that function of the student's package."""
    package = Path(package)
    stems = {p.stem for p in package.glob("*.py")} | {
        f.split(".")[0] for ch in CHAPTERS for f in ch.functions}
    registry = [f for ch in CHAPTERS for f in ch.functions]
    out = {}
    for exercise, value in suite_forbidden.items():
        if value and isinstance(value[0], (tuple, list)):
            functions, forbidden = value
        else:
            words = set(exercise.split("_"))
            functions = [f"{stem}.{exercise}" for stem in sorted(stems)
                         if _defines(package / f"{stem}.py", exercise)]
            functions += [f for f in registry
                          if words <= set(f.split(".")[1].strip("_").split("_"))]
            forbidden = value
        qualified = tuple(f"cnnlab.{f}" if f.split(".")[0] in stems else f for f in forbidden)
        out[exercise] = (tuple(dict.fromkeys(functions)), qualified)
    return out


def _defines(path, name):
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 5 << 20:
        return False
    try:
        return name in _Module(path).functions
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return False


def forbidden_message(exercise, calls):
    more = f" (and {len(calls) - 1} more)" if len(calls) > 1 else ""
    return (f"library shortcut: {exercise} is yours to write without it; remove `{calls[0]}"
            f"{more}. This exercise earns 0 points until then")
