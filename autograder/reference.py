"""Where the reference package lives, and importing it under its own name.

The student's package and the reference are both called `cnnlab` on disk. Graders need both in one
process, so the reference is imported as `cnnlab_reference` (the package uses relative imports
only, which makes that safe). The instructor's checkout holds it in `solutions/cnnlab`; an
instructor whose grading machine keeps it elsewhere sets CNNLAB_REFERENCE to that folder.
"""

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_NAME = "cnnlab_reference"


def reference_location():
    """Where the reference package should be: CNNLAB_REFERENCE, else solutions/cnnlab."""
    return Path(os.environ.get("CNNLAB_REFERENCE", REPO / "solutions" / "cnnlab"))


def reference_dir():
    """The folder of the reference package; a clear error when this machine does not have it."""
    path = reference_location()
    if not (path / "__init__.py").is_file():
        raise FileNotFoundError(
            f"the reference package is not at {path}: hidden tests need the instructor's "
            "solutions/cnnlab (set CNNLAB_REFERENCE to its folder)"
        )
    return path


def load_package(path, name):
    """Import the package in folder `path` under the module name `name` (cached in sys.modules)."""
    path = Path(path).resolve()
    if name in sys.modules:
        loaded = Path(sys.modules[name].__file__).resolve().parent
        if loaded != path:
            raise RuntimeError(f"{name} is already imported from {loaded}, not {path}")
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, path / "__init__.py", submodule_search_locations=[str(path)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_reference():
    """The reference package, imported as `cnnlab_reference`."""
    return load_package(reference_dir(), REFERENCE_NAME)
