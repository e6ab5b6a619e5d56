import pytest

from autograder.reference import load_reference


@pytest.fixture(scope="session")
def ref():
    """The reference package (solutions/cnnlab), imported as `cnnlab_reference`."""
    return load_reference()
