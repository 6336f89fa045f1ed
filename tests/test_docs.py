"""The docs: every figure generated from its source and current, no figure typed where a
generated one belongs, and no sentence that speaks of anything but the tool."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pandas", reason="the analysis extra")

from cebench.cli import main  # noqa: E402
from cebench import docfigures  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
USER_DOCS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]


def test_every_generated_figure_in_the_docs_is_current():
    assert docfigures.stale() == [], "stale figures: run `cebench docs --write`"


def test_a_stale_figure_is_named_and_rewritten_from_its_source(tmp_path, capsys):
    for doc in docfigures.DOCS:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / doc, tmp_path / doc)
    for name in ("results", "tests/data/instructions", "tests/data/aa-injected"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(REPO / name)
    for name in ("asv.conf.json", "docs/aa-series-cpu-amd-epyc-2c.csv", "docs/data",
                 "docs/mutation-scores.json"):
        (tmp_path / name).unlink(missing_ok=True)
        (tmp_path / name).symlink_to(REPO / name)
    doc = tmp_path / "docs" / "measurement.md"
    doc.write_text(doc.read_text().replace("<!-- fig:alpha -->0.01<!-- /fig -->",
                                           "<!-- fig:alpha -->0.05<!-- /fig -->", 1))
    assert main(["docs", "--root", str(tmp_path)]) == 1
    assert "docs/measurement.md: figure alpha differs from its source" in capsys.readouterr().out
    assert main(["docs", "--root", str(tmp_path), "--write"]) == 0
    assert doc.read_text() == (REPO / "docs" / "measurement.md").read_text()


def test_an_unknown_figure_is_an_error():
    with pytest.raises(KeyError, match="unknown figure 'nope'"):
        docfigures.render("x <!-- fig:nope -->1<!-- /fig -->", docfigures.Sources())


def test_figures_come_from_their_sources():
    from cebench.results import rules

    sources = docfigures.Sources()
    text = docfigures.render("<!-- fig:alpha -->?<!-- /fig --> <!-- fig:threshold -->?<!-- /fig -->"
                             " <!-- fig:timer setting=budget_s -->?<!-- /fig -->", sources)
    assert text == (f"<!-- fig:alpha -->{rules.DEFAULT_ALPHA:g}<!-- /fig --> "
                    f"<!-- fig:threshold -->{rules.DEFAULT_THRESHOLD * 100:.0f} %<!-- /fig --> "
                    "<!-- fig:timer setting=budget_s -->1<!-- /fig -->")


#: Figures the docs once typed by hand and that disagreed between pages: each must be a
#: generated one wherever it appears (alpha, the run-to-run noise tau, the smallest
#: detectable change with k runs).
TYPED = [re.compile(p, re.I) for p in (
    r"alpha\s*(=|of|at)?\s*0\.\d", r"\btau\s*=\s*\d", r"\d+\s*%\s*with\s*(one|\d+)\s*runs?",
    r"run-to-run noise\s*(is|of)?\s*(about\s*)?\d", r"family-wise error (rate )?(of )?0\.\d")]


#: Docs generated whole by their own command, each checked by its own test.
GENERATED_WHOLE = ("docs/findings.md", "docs/semantics.md", "docs/verdicts.md",
                   "docs/implementations.md")


@pytest.mark.parametrize("doc", [d for d in USER_DOCS if d not in GENERATED_WHOLE])
def test_no_figure_of_the_rules_or_the_noise_is_typed(doc):
    text = docfigures.MARK.sub("FIGURE", (REPO / doc).read_text())
    found = [m.group(0) for pattern in TYPED for m in pattern.finditer(text)]
    assert not found, f"{doc}: typed figures {found}; mark them (docs/figures in docfigures.py)"


@pytest.mark.parametrize("doc", docfigures.DOCS)
def test_an_inline_figure_never_starts_a_line(doc):
    """A line that starts with an HTML comment is a raw HTML block in Markdown: the rest of
    the line would show unrendered. Only a block figure (a table) sits on its own lines."""
    starts = [line for line in (REPO / doc).read_text().splitlines()
              if line.startswith("<!-- fig:") and not re.fullmatch(r"<!-- fig:[^>]*-->", line)]
    assert not starts, starts


#: What a user's doc never says: how the project was made or who made it.
NOT_FOR_USERS = re.compile(
    r"development machine|other engineers|found on the way|this session|\bhelpers?\b|"
    r"\bthe team\b|round of new tests|not available when these|issue \d+", re.I)


@pytest.mark.parametrize("doc", USER_DOCS)
def test_docs_speak_to_users_only(doc):
    found = [m.group(0) for m in NOT_FOR_USERS.finditer((REPO / doc).read_text())]
    assert not found, f"{doc}: {found}"
