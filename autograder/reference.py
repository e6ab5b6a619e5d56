"""Where the reference package lives, and importing it under its own name.

The student's package and the reference are both called `cnnlab` on disk. Graders need both in one
process, so the reference is imported as `cnnlab_reference` (the package uses relative imports
only, which makes that safe). The instructor's checkout holds it in `solutions/cnnlab`; an
instructor whose grading machine keeps it elsewhere sets CNNLAB_REFERENCE to that folder.

Numba's on-disk cache (`cache=True`) names its files after the source file and function, not the
module name, yet the compiled code refers to the module it was compiled under: a folder imported
as `cnnlab_reference` and later as `cnnlab` would load the other name's code and fail with
"No module named 'cnnlab_reference'". A package imported here under another name than `cnnlab`
therefore gets cache files of its own (`ImportNameCache`), in either order of use.
"""

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_NAME = "cnnlab_reference"
PACKAGE_NAME = "cnnlab"
_renamed = set()  # top-level names under which load_package imported a cnnlab folder


class _ImportNameCache:
    """Mixin for a Numba cache locator: the cache file names carry the import name."""

    def get_disambiguator(self):
        return f"{super().get_disambiguator()}-as-{self._import_name}"

    @classmethod
    def from_function(cls, py_func, py_file):
        import_name = py_func.__module__.partition(".")[0]
        if import_name not in _renamed:
            return None
        locator = super().from_function(py_func, py_file)
        if locator is not None:
            locator._import_name = import_name
        return locator


def _cache_by_import_name(name):
    """From now on, give Numba functions of packages imported as `name` their own cache files."""
    from numba.core import caching

    def numba_class(name):  # newer Numba releases dropped the leading underscore
        return getattr(caching, name, None) or getattr(caching, f"_{name}")

    if not _renamed:
        bases = [numba_class("InTreeCacheLocator"), numba_class("UserWideCacheLocator")]
        ours = [type(f"ImportName{b.__name__.lstrip('_')}", (_ImportNameCache, b), {})
                for b in bases]
        numba_class("CacheImpl")._locator_classes[:0] = ours
    _renamed.add(name)


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
    if name != PACKAGE_NAME:
        _cache_by_import_name(name)
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


def earlier_chapters():
    """The package a chapter's notebook takes the earlier chapters' pieces from: working code.

    That is the reference package (solutions/cnnlab, or CNNLAB_REFERENCE) where this machine has
    it, imported as `cnnlab_reference`; elsewhere (a students' image has no solutions/) the
    learner's own `cnnlab`, which in an nbgrader assignment holds the earlier chapters as
    reference code (`nbgrader-course --earlier reference`, the default). Prints which one.
    """
    if (reference_location() / "__init__.py").is_file():
        package = load_reference()
        print(f"earlier chapters' pieces: the reference package ({reference_location()})")
    else:
        import cnnlab as package

        print(f"earlier chapters' pieces: the package beside this notebook "
              f"({Path(package.__file__).parent})")
    return package
