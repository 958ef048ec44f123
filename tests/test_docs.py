"""The documentation: every relative link resolves to a file of the repository, every figure it shows exists,
and the README stays a short guide."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests import ROOT

DOCUMENTS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 150

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
IMAGE = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
FIGURE = re.compile(r"(?:^|[\s(\"'`])((?:docs/)?figures/[\w.\-/]+\.(?:png|svg|jpe?g|gif))", re.IGNORECASE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:|//)", re.IGNORECASE)


def targets(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image, and every HTML <img>, outside code."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = CODE_SPAN.sub("", line)
        found += [(number, m.group(1)) for m in LINK.finditer(prose)]
        found += [(number, m.group(1)) for m in IMAGE.finditer(prose)]
    return found


def broken_links(document: Path, text: str) -> list[str]:
    """'line N: target' for each relative link of `document` that names no file or folder inside the repository.
    Web links and same-page anchors are not followed; a link's anchor and query are ignored."""
    broken = []
    for number, target in targets(text):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        resolved = (ROOT / path.lstrip("/")) if path.startswith("/") else (document.parent / path)
        resolved = resolved.resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"line {number}: {target}")
    return broken


def missing_figures(document: Path, text: str) -> list[str]:
    """Each docs/figures/ image the document mentions anywhere (links, code, prose) that does not exist."""
    missing = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in FIGURE.finditer(line):
            name = match.group(1)
            relative = name if name.startswith("docs/") else f"docs/{name}"
            beside = (document.parent / name).resolve()
            shown = (ROOT / relative).is_file() or (beside.is_relative_to(ROOT / "docs/figures") and beside.is_file())
            if not shown:
                missing.append(f"line {number}: {name}")
    return missing


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document):
    broken = broken_links(document, document.read_text(encoding="utf-8"))
    assert not broken, f"{document.relative_to(ROOT)}: links to nothing in the repository:\n" + "\n".join(broken)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_figure_shown_exists(document):
    missing = missing_figures(document, document.read_text(encoding="utf-8"))
    assert not missing, f"{document.relative_to(ROOT)}: figures that do not exist:\n" + "\n".join(missing)


def test_the_documents_exist():
    assert (ROOT / "CHANGELOG.md").is_file()
    assert len(DOCUMENTS) > 2, "docs/ holds no guide"


def test_the_readme_is_short():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; keep it to {README_MAX_LINES}, the rest in docs/"


def test_the_checker_catches_a_broken_link_and_a_missing_figure():
    document = ROOT / "docs" / "example.md"
    text = """\
[fine](study.md#mnist) [up](../README.md) [web](https://example.org/x) [here](#top)
[gone](no-such-page.md) and ![gone figure](figures/no-such-figure.png)
```
[in a code block](ignored.md)
```
`[in a code span](ignored.md)` then [after the span](../nowhere/file.py#L3)
[outside](../../etc/passwd)
see docs/figures/missing.png
"""
    assert broken_links(document, text) == [
        "line 2: no-such-page.md",
        "line 2: figures/no-such-figure.png",
        "line 6: ../nowhere/file.py#L3",
        "line 7: ../../etc/passwd",
    ]
    assert missing_figures(document, text) == ["line 2: figures/no-such-figure.png", "line 8: docs/figures/missing.png"]
