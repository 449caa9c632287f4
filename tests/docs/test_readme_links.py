"""The README's links into the repository lead somewhere: the file exists, and so does the heading."""

from __future__ import annotations

import re
from pathlib import Path

from tests.servicekit import REPO


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)}


def test_every_relative_link_in_the_readme_resolves():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+?)(?:#([^)\s]+))?\)", text)
    local = [(target, anchor) for target, anchor in links if not re.match(r"[a-z]+:", target)]
    assert local, "the README links no file of the repository"
    for target, anchor in local:
        path = REPO / target
        assert path.is_file(), f"README links {target}, which is not in the repository"
        if anchor:
            assert anchor in _anchors(path), f"README links {target}#{anchor}: no such heading"
