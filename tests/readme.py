"""The README's command blocks, as the tests run them (between `<!-- name -->` markers)."""

import re

from autograder.reference import REPO


def readme_block(name):
    """The lines of the fenced code block between `<!-- name -->` and `<!-- /name -->`."""
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- {name} -->\n```\w*\n(.*?)```\n<!-- /{name} -->", text, re.S)
    assert found, f"README.md has no {name} block"
    return found.group(1).strip().splitlines()
