"""Readable failure messages for the grading suites: which case, where, expected vs got."""

import re

import numpy as np


class Mismatch(AssertionError):
    """A result that differs from the expected one; keeps both (for the check cell's picture)."""

    def __init__(self, message, got, expected, where):
        super().__init__(message)
        self.got, self.expected, self.where = got, expected, where


Mismatch.__module__, Mismatch.__qualname__ = "builtins", "AssertionError"  # reads as one


def tolerances(dtype):
    """(rtol, atol) for comparing a result of `dtype` with the reference."""
    return (1e-4, 1e-5) if np.dtype(dtype) == np.float32 else (1e-9, 1e-10)


def assert_close(got, expected, call, rtol=None, atol=None):
    """Fail with a message naming `call`, unless `got` matches `expected` in shape, dtype, values.

    `call` describes the case, e.g. "correlate2d(image 5x7, kernel 3x2, mode='same')".
    Tolerances default to the expected dtype's (`tolerances`), scaled by the size of the values.
    """
    expected = np.asarray(expected)
    if got is None:
        raise AssertionError(f"{call} returned None (a missing `return`?)")
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"{call} returned {type(got).__name__}, expected a numpy array")
    if got.shape != expected.shape:
        raise AssertionError(f"{call}: shape {got.shape}, expected {expected.shape}")
    if got.dtype != expected.dtype:
        raise AssertionError(f"{call}: dtype {got.dtype}, expected {expected.dtype}")
    default_rtol, default_atol = tolerances(expected.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol * scale, equal_nan=True)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise Mismatch(
            f"{call}: {int(bad.sum())} of {bad.size} values differ; first at index {where}: "
            f"got {got[where].item()!r}, expected {expected[where].item()!r}"
            + (f"\n  got:\n{_show(got)}\n  expected:\n{_show(expected)}" if got.size <= 36 else ""),
            got, expected, where,
        )


def _show(a):
    text = np.array2string(np.asarray(a), precision=4, suppress_small=True)
    return "\n".join("    " + line for line in text.splitlines())


def describe_array(a):
    """'5x7 float32' — how a case names its arrays."""
    return "x".join(map(str, np.shape(a))) + f" {np.asarray(a).dtype}"


def picture(error, call_limit=300, largest=32):
    """Plain data for the check cell's picture of a Mismatch whose data is an image, else None.

    The 2-D slice (the last two axes) that holds the first differing value: {"title": the case,
    "index": the leading indices, "got", "expected": nested lists}. Only for slices of at least
    2x2 and at most `largest` on a side.
    """
    got, expected, where = (getattr(error, name, None) for name in ("got", "expected", "where"))
    if not isinstance(got, np.ndarray) or not isinstance(expected, np.ndarray):
        return None
    if got.ndim < 2 or got.shape != expected.shape or where is None:
        return None
    lead = tuple(where[:-2])
    got2, expected2 = got[lead].astype(float), expected[lead].astype(float)
    if min(got2.shape) < 2 or max(got2.shape) > largest:
        return None
    title = str(error).split(":")[0][:call_limit]
    return {"title": title, "index": list(lead), "got": got2.tolist(),
            "expected": expected2.tolist()}


_NUMBA_FRAME = re.compile(r'^File "(?P<path>[^"]*)", line (?P<line>\d+):?$')


def trim_numba_error(message):
    """A Numba compile error (TypingError, ...) as Numba's one-line reason and the frames in the
    learner's own files (`cnnlab/...`): a few lines instead of ~35.

    "numba.core.errors.TypingError: Failed in nopython mode pipeline ..." becomes
        TypingError (Numba could not compile your code): No implementation of function ...
          File "cnnlab/edges.py", line 109, in _correlate2d_valid
              out[i, j] += image[i + u, j + v] * kernel[u, v] + 'x'
    Anything that is not such an error is returned as it is.
    """
    first, _, rest = message.partition("\n")
    kind, _, text = first.partition(": ")
    if not kind.startswith("numba.") or not rest:
        return message
    lines = [line.rstrip() for line in rest.splitlines()]
    reason = ""
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith(("During:", "File ")):
            continue
        reason = line.strip()
        if reason.endswith(":"):  # "... found for signature:" then " >>> add(float64, ...)"
            more = next((x.strip().lstrip("> ").strip() for x in lines[i + 1:] if x.strip()), "")
            reason = f"{reason} {more}"
        break
    frames = []
    for i, line in enumerate(lines):
        match = _NUMBA_FRAME.match(line.strip())
        if not match or "cnnlab/" not in match["path"]:
            continue
        path = "cnnlab/" + match["path"].rsplit("cnnlab/", 1)[1]
        block = []
        for x in lines[i + 1:]:
            if not x.strip() or _NUMBA_FRAME.match(x.strip()) or x.startswith("During:"):
                break
            block.append(x)
        function = next((b.strip()[4:].split("(")[0] for b in block
                         if b.strip().startswith("def ")), "")
        carets = [j for j, b in enumerate(block) if set(b.strip()) == {"^"}]
        code = block[carets[-1] - 1].strip() if carets and carets[-1] > 0 else ""
        frame = f'  File "{path}", line {match["line"]}' + (f", in {function}" if function else "")
        if frame not in frames:
            frames += [frame] + ([f"      {code}"] if code else [])
    name = kind.rsplit(".", 1)[-1]
    head = f"{name} (Numba could not compile your code): {reason or text}"
    return "\n".join([head, *frames])
