"""The user guide holds together: links land, the README stays a guide, one name for the
reference recipe, and the commands it documents are the command line's."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "spaces" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)  # not in code
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def links(page: Path):
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+://", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_lands_on_a_file_and_a_heading(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: {target}: no such file"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name}: {target}: no such heading"


def test_the_readme_is_a_guide_of_at_most_300_lines():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    # its measurements live in docs/benchmarks.md, each with its command
    assert readme.count("docs/benchmarks.md") >= 4


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_reference_recipe_has_one_name(page):
    # "seed" means the random seed; the recipe the toolkit starts from is the reference recipe
    text = page.read_text()
    found = re.search(r"[Tt]he seed's|seed's recipe|seed recipe|\(the seed\)", text)
    assert found is None, f"{page.name}: {found and found.group(0)!r}"


def test_the_readme_documents_every_command():
    from search import cli

    readme = (ROOT / "README.md").read_text()
    for command in cli.COMMANDS:
        assert f"`agesearch {command} " in readme or f"`agesearch [{command}]" in readme, command
