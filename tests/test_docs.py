"""The documentation site builds strictly and references every public name.

``mkdocs build --strict`` runs offline into a temporary directory (a broken link, a missing page
in the nav, a reference mkdocstrings cannot resolve or a docstring it cannot render fails it);
then the built reference pages must hold an entry for every name in ``__all__`` of the package
and of the test kit (tests/test_public_api.py checks each has a docstring), and the command-line
page must be what ``tools/cli_reference.py`` generates from the parser.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sagemaker_rt_async
import sagemaker_rt_async.testing
from sagemaker_rt_async.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_cli_reference() -> object:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "tools/cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with ``--strict`` from this checkout."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-4000:]}"
    return out


def _anchors(page: Path) -> set[str]:
    return set(re.findall(r'id="([\w.]+)"', page.read_text(encoding="utf-8")))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "page"),
    [
        (sagemaker_rt_async, "reference/api/index.html"),
        (sagemaker_rt_async.testing, "reference/testing/index.html"),
    ],
    ids=["package", "testing"],
)
def test_every_public_name_has_a_reference_entry(site: Path, module: object, page: str) -> None:
    """Each name of ``__all__`` has its own entry (an anchor) on its reference page."""
    anchors = _anchors(site / page)
    prefix = f"{module.__name__}."  # type: ignore[attr-defined]
    missing = [n for n in module.__all__ if prefix + n not in anchors]  # type: ignore[attr-defined]
    assert not missing, f"{page} has no entry for {missing}"


@pytest.mark.slow
def test_every_page_is_in_the_nav_and_built(site: Path) -> None:
    """A page left out of the nav would be built but unreachable: every page is linked."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert pages
    for page in pages:
        assert f": {page}" in config, f"{page} is not in mkdocs.yml's nav"
        built = site / page.replace("index.md", "").replace(".md", "/") / "index.html"
        assert built.is_file(), f"{page} was not built"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("sagemaker-rt has no subcommands")


def test_the_cli_page_covers_every_command_and_option() -> None:
    """Every subcommand has a section, and every option of it appears on the page."""
    text = (DOCS / "reference/cli.md").read_text(encoding="utf-8")
    for name, sub in _subcommands(build_parser()).items():
        assert f"## `sagemaker-rt {name}`" in text
        section = text.split(f"## `sagemaker-rt {name}`", 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            for option in action.option_strings:
                assert option in section, f"sagemaker-rt {name}: {option} is not documented"


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the page is generated on the default interpreter (3.11); argparse lays out help "
    "differently on other versions, which the option check above covers",
)
def test_the_cli_page_is_what_the_generator_writes() -> None:
    """The committed page is current: run ``python tools/cli_reference.py`` after a CLI change."""
    expected = _load_cli_reference().render()  # type: ignore[attr-defined]
    assert (DOCS / "reference/cli.md").read_text(encoding="utf-8") == expected


def _nav() -> list[object]:
    yaml: Any = importlib.import_module("yaml")  # mkdocs' own dependency (no type stubs)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return list(config["nav"])


def _nav_pages(entries: list[object], depth: int = 1) -> list[tuple[str, int]]:
    """(page, depth) for every page of the nav; a section's pages are one level deeper."""
    found: list[tuple[str, int]] = []
    for entry in entries:
        assert isinstance(entry, dict) and len(entry) == 1, entry
        (value,) = entry.values()
        if isinstance(value, list):
            found += _nav_pages(value, depth + 1)
        else:
            found.append((str(value), depth))
    return found


def test_the_nav_lists_every_page_once_two_clicks_deep() -> None:
    """Every Markdown page under docs/ is in the nav exactly once, and no deeper than a section:
    any feature is two clicks away (a section, then its page)."""
    listed = _nav_pages(_nav())
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    names = [page for page, _ in listed]
    assert sorted(names) == pages, "mkdocs.yml's nav and the pages under docs/ differ"
    assert len(set(names)) == len(names), "a page is listed twice in the nav"
    assert all(depth <= 2 for _, depth in listed), "a page nested deeper than one section"


def test_no_page_is_orphaned() -> None:
    """Each page but the home page is linked from another page, so a reader who lands on any
    page (from a search engine, from the README) can reach the rest by following links."""
    linked: set[Path] = set()
    for page in DOCS.rglob("*.md"):
        for target in re.findall(
            r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)", page.read_text(encoding="utf-8")
        ):
            if "://" not in target:
                linked.add((page.parent / target).resolve())
    orphans = sorted(
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.md")
        if p.name != "index.md" or p.parent != DOCS
        if p.resolve() not in linked
    )
    assert not orphans, f"no page links to {orphans}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/getting-started.md" in readme, "the README must lead into the docs"
