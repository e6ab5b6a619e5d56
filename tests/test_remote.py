"""The two sides of grading: the worker that runs the student's package, and the proxy to it."""

import os
import sys
import textwrap
import time

import numpy as np
import pytest
from fresh import need_bwrap

from autograder import worker as wire
from autograder.reference import REPO
from autograder.remote import Remote, StudentError, StudentSession, StudentTimeout, WorkerCrashed
from autograder.sandbox import GradingError, Limits, choose_isolation

TOY = '''
import ctypes, os, socket, sys
import numpy as np

SCALE = 3
WEIGHTS = np.arange(4.0)


class Counter:
    def __init__(self, start):
        self.count = start

    def add(self, x):
        self.count += x
        return self.count

    def double(self, array):
        return array * 2

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return i * 10


class Oops(Exception):
    pass


def make(start=0):
    return Counter(start)


def total(counter):
    return counter.count


def fail(kind):
    raise {"value": ValueError, "key": KeyError, "custom": Oops}[kind]("bad " + kind)


def hang():
    while True:
        pass


def die():
    os._exit(3)


def segfault():
    ctypes.string_at(0)


def shout(n):
    sys.stdout.write("x" * n)
    sys.stdout.flush()
    return n


def objects():
    return np.array([object()])


def scalars():
    return np.int64(7), np.float32(0.5), {"a": [1, (2.5, None)], 3: "x"}


def environment():
    return dict(os.environ), os.getcwd(), os.listdir("."), os.getuid()


def read(path):
    with open(path) as f:
        return f.read()


def connect():
    socket.create_connection(("pypi.org", 443), timeout=3)


def allocate(gib):
    return np.ones(int(gib * 2**30) // 8).sum()
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    package = tmp_path_factory.mktemp("toy") / "cnnlab"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        import sys
        GRADER = sorted(m for m in sys.modules if m.split(".")[0] in
                        ("autograder", "pytest", "cnnlab_reference", "_pytest"))
        from . import toy
    '''))
    (package / "toy.py").write_text(TOY)
    return package


@pytest.fixture(scope="module", params=["process", "bwrap"])
def session(request, toy):
    if request.param == "bwrap":
        need_bwrap()
    session = StudentSession(toy, isolation=request.param, limits=Limits(call_seconds=5))
    yield session
    session.close()


def test_calls_constants_and_plain_data(session):
    student = session.root()
    assert student.toy.SCALE == 3 and type(student.toy.SCALE) is int
    assert np.array_equal(student.toy.WEIGHTS, np.arange(4.0))
    integer, half, nested = student.toy.scalars()
    assert type(integer) is np.int64 and integer == 7 and type(half) is np.float32
    assert nested == {"a": [1, (2.5, None)], 3: "x"}
    assert student.GRADER == []  # the worker imports nothing of the grader
    assert "cnnlab" not in sys.modules  # and the grader nothing of the student's package


def test_objects_stay_in_the_worker_behind_handles(session):
    toy = session.root().toy
    counter = toy.make(5)
    assert isinstance(counter, Remote) and "Counter" in repr(counter)
    assert counter.add(2) == 7 and counter.count == 7
    counter.count = 10
    assert toy.total(counter) == 10  # a handle passed back to the student's code
    assert len(counter) == 3 and counter[2] == 20 and list(counter) == [0, 10, 20]
    assert np.array_equal(counter.double(np.arange(3)), [0, 2, 4])
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        counter.missing  # noqa: B018


def test_exceptions_come_back_by_type_message_and_traceback(session):
    toy = session.root().toy
    with pytest.raises(ValueError, match="^bad value$") as error:
        toy.fail("value")
    assert isinstance(error.value, StudentError)
    assert 'File "cnnlab/toy.py"' in error.value.student_traceback[-2]
    assert "ValueError: bad value" in error.exconly()
    with pytest.raises(KeyError) as error:
        toy.fail("key")
    assert str(error.value) == "'bad key'"
    with pytest.raises(StudentError, match="bad custom") as error:
        toy.fail("custom")
    assert error.value.remote_type == "cnnlab.toy.Oops"


def test_only_plain_data_crosses(session):
    toy = session.root().toy
    with pytest.raises(TypeError, match="dtype object"):
        toy.objects()
    with pytest.raises(TypeError, match="cannot be sent to the student's code"):
        toy.total(lambda: 0)


def test_a_hang_costs_one_call_and_a_fresh_worker_takes_over(session):
    toy = session.root().toy
    counter = toy.make(1)
    start = time.monotonic()
    with pytest.raises(StudentTimeout, match="no answer within 5 s"):
        toy.hang()
    assert time.monotonic() - start < 15
    assert toy.SCALE == 3  # a fresh worker
    with pytest.raises(WorkerCrashed, match="stopped"):
        counter.add(1)  # that object lived in the worker that hung
    start = time.monotonic()
    with pytest.raises(StudentTimeout, match="not called again"):
        toy.hang()
    assert time.monotonic() - start < 1


@pytest.mark.parametrize(("call", "status"), [("die", "exit code 3"), ("segfault", "SIGSEGV")])
def test_a_crash_costs_one_call(session, call, status):
    toy = session.root().toy
    with pytest.raises(WorkerCrashed, match=status):
        getattr(toy, call)()
    assert toy.SCALE == 3


def test_prints_neither_block_nor_pile_up(session):
    toy = session.root().toy
    assert toy.shout(20_000_000) == 20_000_000
    assert len(session.output()) < session.limits.output_bytes + 100


def test_memory_is_limited(toy):
    session = StudentSession(toy, isolation="process", limits=Limits(memory_bytes=2 << 30))
    try:
        with pytest.raises(MemoryError):
            session.root().toy.allocate(20)
        assert session.root().toy.allocate(0.01) > 0
    finally:
        session.close()


def test_process_fallback_scrubs_the_environment(toy, monkeypatch):
    monkeypatch.setenv("CNNLAB_REFERENCE", str(REPO / "solutions" / "cnnlab"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    session = StudentSession(toy, isolation="process")
    try:
        env, cwd, listing, uid = session.root().toy.environment()
    finally:
        session.close()
    assert "CNNLAB_REFERENCE" not in env and "PYTHONPATH" not in env
    assert listing == [] and cwd != os.getcwd()
    if os.geteuid() == 0 and uid != 0:
        assert uid == 65534


def test_bwrap_sandbox_sees_no_solutions_no_network_and_runs_as_nobody(toy, monkeypatch):
    need_bwrap()
    monkeypatch.setenv("CNNLAB_REFERENCE", str(REPO / "solutions" / "cnnlab"))
    session = StudentSession(toy, isolation="bwrap")
    try:
        toy_module = session.root().toy
        env, cwd, listing, uid = toy_module.environment()
        assert "CNNLAB_REFERENCE" not in env and cwd == "/scratch" and listing == []
        assert uid == 65534
        for secret in (REPO / "solutions" / "cnnlab" / "conv.py", toy / "toy.py"):
            with pytest.raises(FileNotFoundError):
                toy_module.read(str(secret))
        with pytest.raises(OSError):
            toy_module.connect()
    finally:
        session.close()


def test_a_requested_sandbox_that_is_missing_fails_loudly(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    from autograder import sandbox

    sandbox.bwrap_problem.cache_clear()
    try:
        with pytest.raises(GradingError, match="bwrap sandbox was requested"):
            choose_isolation("bwrap")
        assert choose_isolation("auto") == "process"
    finally:
        sandbox.bwrap_problem.cache_clear()


def test_the_wire_refuses_what_is_not_plain_data():
    with pytest.raises(TypeError, match="dtype object"):
        wire.array_bytes(np.array([None, 1], dtype=object))
    import io
    import pickle

    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.ProtocolError):
        wire.bytes_array(pickled.getvalue())
    with pytest.raises(wire.ProtocolError):
        wire.bytes_array(pickle.dumps([1, 2]))
    with pytest.raises(wire.ProtocolError):
        wire.decode({"a": 5}, [b"{}"], None)
    with pytest.raises(wire.ProtocolError):
        wire.unpack([b"[" * 100_000])
