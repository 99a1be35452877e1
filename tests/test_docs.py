"""The README is a front door and docs/ holds the rest: the configuration reference agrees with the schema,
and every relative link (file and heading) resolves."""

import re
from pathlib import Path

from progdistill import schema_doc

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, len(lines)


def test_configuration_reference_matches_the_schema():
    doc = schema_doc.DOC.read_text()
    assert doc == schema_doc.render(doc), (
        "docs/configuration.md is stale: run python -m progdistill.schema_doc"
    )
    ref = schema_doc.reference()
    for key in (
        "`teacher_logits`",
        "`experiments.<name>.strategies[].kind`",
        "`theory.students.batch_grid.max`",
    ):
        assert key in ref, key


def test_configuration_reference_fails_when_the_schema_changes():
    schema = schema_doc.load_schema()
    schema["properties"]["chunk"]["default"] = 1234
    doc = schema_doc.DOC.read_text()
    assert schema_doc.render(doc, schema) != doc


def _anchor(heading: str) -> str:
    """GitHub's slug of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_resolve():
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, frag = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif frag and dest.suffix == ".md":
                heads = [_anchor(h) for h in re.findall(r"^#+ (.*)$", dest.read_text(), re.M)]
                if frag not in heads:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
