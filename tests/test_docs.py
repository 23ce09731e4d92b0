"""The documents a user reads: every relative link points at a file that exists."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_relative_link_in_the_readme_and_docs_exists():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")) and \
                    not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert not broken


def test_the_readme_fits_its_purpose():
    """A first screen and a tour, not a specification: the rules live in docs/."""
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 200
    assert "make run" in text and "make test" in text
    for doc in ("customers", "meters", "outputs", "operations"):
        assert f"(docs/{doc}.md)" in text
