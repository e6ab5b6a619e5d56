"""Name the mistake: which known wrong implementation a learner's failed test matches.

The catalogue lives with the solutions, on the grading machine only (it quotes reference code):
`solutions/mistakes/<chapter>.py`, or `mistakes/` beside the folder CNNLAB_REFERENCE names. Each
file holds a list `MUTANTS` of tuples

    (name, file, old, new, exercise)          the name is also the hint shown to the learner
    (name, file, old, new, exercise, hint)    `hint` is shown instead

where `file` is a module of the reference package (e.g. "conv.py") in which the text `old` occurs
exactly once (in the finished code: the reference without its solution marker lines) and is
replaced by `new`: the mistake, as a learner would make it in `exercise`. The
project's tests grade each one as a mutant submission (it must lose points and be named).

How a mistake is named (on the trusted side only; the learner's code is never run here): the
`student` proxy records each call of a test (function path, arguments) and the learner's result.
When the test fails, the calls are replayed on each mistake of its exercise (the reference package
with that one substitution, imported under its own name, `cnnlab_mistake_<key>`); a mistake whose
results equal the learner's on every recorded call, and differ from the reference on at least one,
is named. Outcomes are cached on disk, keyed by a hash of the reference source, the mistake and the
call, so a suite's fixed cases are computed once per reference version; the mutated packages live
in the same cache, so Numba compiles each once.
"""

import hashlib
import importlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import worker as wire
from .feedback import tolerances
from .reference import load_package, load_reference, reference_location


@dataclass(frozen=True)
class Mistake:
    name: str
    file: str
    old: str
    new: str
    exercise: str
    hint: str


@dataclass
class Call:
    """One call the suite made to the learner's package, and what the learner's code answered.

    `outcome` is ("value", value), ("error", exception class name) or ("crash", None); `args` is
    the call's (args, kwargs) encoded as on the wire (JSON text and .npy parts), None when it
    cannot be replayed (an argument or result that lives in the worker)."""

    path: tuple
    args: tuple | None
    outcome: tuple


class _NotPlain(Exception):
    pass


def _refuse(value):
    raise _NotPlain(type(value).__name__)


def encode_call(args, kwargs):
    """(json text, [npy bytes]) of a call's arguments; None if one of them is not plain data."""
    arrays = []
    try:
        data = wire.encode((tuple(args), dict(kwargs or {})), arrays, _refuse)
    except (_NotPlain, TypeError):
        return None
    return json.dumps(data, allow_nan=True), arrays


def _decode_call(encoded):
    text, arrays = encoded
    args, kwargs = wire.decode(json.loads(text), [b"", *arrays], _refuse)
    return args, kwargs


def mistakes_dir():
    """Where the catalogue is: `mistakes/` beside the reference package's folder."""
    return reference_location().parent / "mistakes"


def catalogue(chapter, folder=None):
    """The Mistakes of `chapter` (e.g. "ch01_edges"); [] where this machine has no catalogue."""
    path = Path(folder or mistakes_dir()) / f"{chapter}.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"cnnlab_mistakes_{chapter}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mistakes = []
    for entry in module.MUTANTS:
        if len(entry) not in (5, 6):
            raise ValueError(f"{path}: a mistake is (name, file, old, new, exercise[, hint]), "
                             f"got {len(entry)} fields in {entry[0]!r}")
        name, file, old, new, exercise, *hint = entry
        mistakes.append(Mistake(name, file, old, new, exercise, hint[0] if hint else name))
    return mistakes


def cache_root():
    """CNNLAB_MISTAKE_CACHE, else ~/.cache/cnnlab/mistakes (or under XDG_CACHE_HOME)."""
    if os.environ.get("CNNLAB_MISTAKE_CACHE"):
        return Path(os.environ["CNNLAB_MISTAKE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnlab" / "mistakes"


def source_hash(folder):
    """sha256 of the package's Python sources (relative paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def same(a, b):
    """Whether two outcomes are equal: same kind; arrays of one shape and dtype, equal within the
    dtype's tolerance; numbers equal (ints exactly, floats within float64's tolerance)."""
    if a[0] != b[0]:
        return False
    if a[0] != "value":
        return a[1] == b[1]
    return _same_value(a[1], b[1])


def _same_value(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            return False
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind not in "fc":
            return bool(np.array_equal(x, y))
        rtol, atol = tolerances(x.dtype)
        return bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(x, (list, tuple)) or isinstance(y, (list, tuple)):
        return (type(x) is type(y) and len(x) == len(y)
                and all(_same_value(u, v) for u, v in zip(x, y, strict=True)))
    if isinstance(x, dict) or isinstance(y, dict):
        return (type(x) is type(y) and x.keys() == y.keys()
                and all(_same_value(x[k], y[k]) for k in x))
    if isinstance(x, (bool, np.bool_)) or isinstance(y, (bool, np.bool_)):
        return type(x) is type(y) and x == y
    if isinstance(x, (int, np.integer)) and isinstance(y, (int, np.integer)):
        return type(x) is type(y) and x == y
    if isinstance(x, (float, np.floating)) and isinstance(y, (float, np.floating)):
        return type(x) is type(y) and bool(np.isclose(x, y, rtol=1e-9, atol=1e-10,
                                                       equal_nan=True))
    return type(x) is type(y) and x == y


class Mistakes:
    """The mistakes of one chapter, replayed on recorded calls (see the module's docstring).

    `computed` counts outcomes computed (not read from the cache), `imported` the packages
    imported: with a warm cache, naming a mistake imports and compiles nothing.
    """

    def __init__(self, chapter, reference=None, folder=None, cache=None):
        self.reference = Path(reference or reference_location())
        self.mistakes = []
        if (self.reference / "__init__.py").is_file():  # no reference: nothing to compare with
            self.mistakes = catalogue(chapter, folder or self.reference.parent / "mistakes")
        self.cache = Path(cache or cache_root())
        self.version = source_hash(self.reference) if self.mistakes else ""
        self.packages = {}
        self.computed = 0
        self.imported = 0

    def of(self, exercise):
        return [m for m in self.mistakes if m.exercise == exercise]

    def name(self, exercise, calls):
        """The mistakes of `exercise` whose outcomes equal the learner's on every call of
        `calls` and differ from the reference's on at least one."""
        candidates = self.of(exercise)
        if not candidates or not calls or any(c.args is None for c in calls):
            return []
        if any(c.outcome[0] == "crash" for c in calls):
            return []
        if calls[-1].outcome in (("error", "Exception"), ("error", "NotImplementedError")):
            return []  # not started, or an error no mistake makes (Numba's TypingError)
        order = [calls[-1], *calls[:-1]]  # the failing call first: it rejects most mistakes
        found = []
        for mistake in candidates:
            if all(same(self.outcome(mistake, c), c.outcome) for c in order):
                if not all(same(self.outcome(None, c), c.outcome) for c in order):
                    found.append(mistake)
        return found

    # --- outcomes, cached on disk ----------------------------------------------------------

    def _key(self, mistake, call):
        digest = hashlib.sha256(self.version.encode())
        if mistake is not None:
            digest.update(json.dumps([mistake.file, mistake.old, mistake.new]).encode())
        text, arrays = call.args
        digest.update(json.dumps(list(call.path)).encode() + b"\0" + text.encode())
        for part in arrays:
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def outcome(self, mistake, call):
        """What `mistake` (None: the reference) answers to `call`, from the cache if it can."""
        key = self._key(mistake, call)
        path = self.cache / "outcomes" / key[:2] / f"{key}.bin"
        if path.is_file():
            try:
                return _read_outcome(path.read_bytes())
            except (wire.ProtocolError, EOFError, ValueError, KeyError):
                pass  # a damaged entry: compute it again
        outcome = self._compute(mistake, call)
        self.computed += 1
        data = _write_outcome(outcome)
        if data is not None:
            _atomic_write(path, data)
            outcome = _read_outcome(data)  # as from the cache, and as the learner's arrive
        return outcome

    def _compute(self, mistake, call):
        package = self.package(mistake)
        target = package
        try:
            for name in call.path:
                try:
                    target = getattr(target, name)
                except AttributeError:
                    if not hasattr(target, "__path__"):
                        raise
                    target = importlib.import_module(f"{target.__name__}.{name}")
            args, kwargs = _decode_call(call.args)
            return ("value", target(*args, **kwargs))
        except Exception as error:  # the mistake's own exception is its outcome
            builtin = next(c for c in type(error).__mro__ if c.__module__ == "builtins")
            return ("error", builtin.__name__)

    def package(self, mistake):
        """The reference (None), or the reference with `mistake` applied, imported."""
        if mistake is None:
            if os.path.realpath(self.reference) == os.path.realpath(reference_location()):
                return load_reference()
            return load_package(self.reference, "cnnlab_reference")
        if mistake not in self.packages:
            key = hashlib.sha256(
                json.dumps([self.version, mistake.file, mistake.old, mistake.new]).encode()
            ).hexdigest()[:16]
            folder = self.cache / "packages" / key / "cnnlab"
            if not (folder / "__init__.py").is_file():
                _build_mistake(self.reference, mistake, folder)
            self.packages[mistake] = load_package(folder, f"cnnlab_mistake_{key}")
            self.imported += 1
        return self.packages[mistake]


def without_markers(source):
    """A reference module without its `### BEGIN/END SOLUTION` lines (the code stays)."""
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "".join(line for line in source.splitlines(keepends=True)
                   if line.strip() not in markers)


def apply(source, mistake):
    """`source` (a module's text) with the mistake's substitution; ValueError if `old` does not
    occur exactly once (the catalogue no longer fits the reference)."""
    count = source.count(mistake.old)
    if count != 1:
        raise ValueError(f"mistake {mistake.name!r}: its text occurs {count} times in "
                         f"{mistake.file}, not once: {mistake.old!r}")
    return source.replace(mistake.old, mistake.new)


def _build_mistake(reference, mistake, folder):
    """Copy the reference to `folder` with the mistake applied (built aside, then renamed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
    try:
        copy = staging / "cnnlab"
        shutil.copytree(reference, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for module in copy.glob("*.py"):  # the finished code, as a learner who finished has it
            module.write_text(without_markers(module.read_text()))
        target = copy / mistake.file
        target.write_text(apply(target.read_text(), mistake))
        try:
            os.rename(copy, folder)
        except OSError:  # another grader built it meanwhile
            if not (folder / "__init__.py").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_outcome(outcome):
    arrays = []
    try:
        value = wire.encode(outcome[1], arrays, _refuse) if outcome[0] == "value" else outcome[1]
    except (_NotPlain, TypeError):
        return None  # not plain data: not cached (and never equal to a learner's result)
    return wire.frame([json.dumps([outcome[0], value], allow_nan=True).encode(), *arrays])


def _read_outcome(data):
    buffer = io.BytesIO(data)
    parts = wire.read_parts(buffer, lambda f, n: f.read(n))
    kind, value = json.loads(parts[0])
    if kind == "value":
        value = wire.decode(value, parts, _refuse)
    return (kind, value)


def _atomic_write(path, data):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except OSError:
        pass  # a read-only cache: the outcome is computed again next time


MARK = "known mistake: "  # how a failed test's feedback names a mistake (engine groups on it)


def hint_text(mistakes, calls):
    """The feedback line that names the matching mistakes."""
    count = len(calls)
    where = "the call" if count == 1 else f"all {count} calls"
    hints = "; or: ".join(m.hint for m in mistakes)
    return f"{MARK}{hints} (your results equal this mistake's on {where} of this test)"
