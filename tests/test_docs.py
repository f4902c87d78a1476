"""The README is self-contained: every relative link points at a file of this repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_links_stay_inside_the_repository():
    for readme in (REPO / "README.md", REPO / "bench" / "README.md"):
        text = readme.read_text()
        assert "shared/spec" not in text, readme
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "#")):
                continue
            path = (readme.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(REPO) and path.exists(), f"{readme.name}: {target}"
