"""The study tables of the README and docs/results.md are generated from the committed journal: regenerated here,
they must equal the committed text; and three headline intervals, recomputed from the journal with independent
formulas (scipy's paired t-test, a bootstrap), must agree with what the tables say."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import benchmark
from common.errors import InputError
from pairs import doc_tables, results
from tests import ROOT

JOURNAL = ROOT / "records" / "study.jsonl"


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    return results.latest(results.load(JOURNAL))  # what --report-only --docs reads


@pytest.mark.parametrize("name", doc_tables.DOCUMENTS)
def test_the_committed_study_tables_are_what_the_journal_gives(runs, name):
    path = ROOT / name
    text = path.read_text(encoding="utf-8")
    regenerated = doc_tables.rewrite(text, runs, name, ROOT)
    assert regenerated == text, (
        f"{name}: its study tables differ from {JOURNAL.relative_to(ROOT)}; rerun `python benchmark.py --report-only "
        "--results records/study.jsonl --docs` (and reword what the tables no longer support)"
    )


def test_every_study_table_is_shown_once_from_each_journal_it_is_shown_from():
    shown = [
        block for document in doc_tables.DOCUMENTS for block in doc_tables.blocks((ROOT / document).read_text(), "")
    ]
    assert len(shown) == len(set(shown))
    assert {name for name, _ in shown} == {*doc_tables.TABLES, doc_tables.AGAINST}


def test_a_block_that_names_a_journal_is_generated_from_it(runs):
    stale = "<!-- study:cells records/study.jsonl -->\n| stale |\n<!-- /study:cells -->\n"
    expected = "<!-- study:cells records/study.jsonl -->\n" + doc_tables.tables(runs, ["cells"])["cells"]
    assert doc_tables.rewrite(stale, [], "x.md", ROOT) == expected + "<!-- /study:cells -->\n"
    with pytest.raises(InputError, match="records/nowhere.jsonl: a study block names this journal"):
        doc_tables.rewrite(stale.replace("records/study", "records/nowhere"), runs, "x.md", ROOT)


def test_the_readmes_results_have_no_table_outside_a_generated_block():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    study = text.split("## Results")[1].split("**Beyond the study**")[0]
    outside = doc_tables.BLOCK.sub("", study)
    assert [line for line in outside.splitlines() if line.startswith("|")] == []
    assert "✓" not in text and "½" not in text and "replicated" not in study  # the even/odd marks are gone


def copy_documents(root: Path) -> None:
    """The documents with study blocks, and the journals under records/ that blocks name, copied under `root`."""
    for name in doc_tables.DOCUMENTS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copytree(ROOT / "records", root / "records", dirs_exist_ok=True)


def test_a_drifted_number_is_caught_and_rewritten(runs, tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| CNN, tuned | "))
    drifted = text.replace(row, row.replace("| CNN, tuned | ", "| CNN, tuned | 1", 1), 1)
    assert drifted != text
    assert doc_tables.rewrite(drifted, runs, "README.md", ROOT) == text
    copy_documents(tmp_path)
    (tmp_path / "README.md").write_text(drifted, encoding="utf-8")
    assert doc_tables.update(runs, tmp_path) == [tmp_path / "README.md"]  # only the drifted one is written
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == text


def test_a_block_against_another_journal_pairs_each_config_seed_by_seed(tmp_path):
    run = lambda config, seed, acc: {
        "config": config,
        "config_hash": config,
        "seed": seed,
        "fit_seconds": 1.0,
        "metrics": {"acc": acc},
    }
    (tmp_path / "old.jsonl").write_text(
        "".join(
            json.dumps(run(c, s, a)) + "\n"
            for c, s, a in [("a", 0, 0.90), ("a", 1, 0.92), ("a", 2, 0.91), ("b", 0, 0.5)]
        )
    )
    new = [run("a", 0, 0.93), run("a", 1, 0.93), run("a", 3, 0.99), run("c", 0, 0.7)]
    text = doc_tables.rewrite("<!-- study:against old.jsonl -->\n<!-- /study:against -->\n", new, "x.md", tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| a |")]
    differences = np.array([0.93 - 0.90, 0.93 - 0.92])  # seeds 0 and 1: the seeds both ran, paired
    low, high = stats.ttest_1samp(differences, 0).confidence_interval(0.95)
    assert rows == [
        f"| a | 91.0 ± 1.0 | 95.0 ± 3.5 | +{100 * differences.mean():.2f} [{100 * low:+.2f}, {100 * high:+.2f}] | 2 |"
    ]
    assert "| b |" not in text and "| c |" not in text  # in one journal only
    with pytest.raises(InputError, match="names no journal to compare with"):
        doc_tables.blocks("<!-- study:against -->\n<!-- /study:against -->\n", "x.md")


def test_a_block_with_an_unknown_name_or_no_end_is_refused():
    with pytest.raises(InputError, match="no study table is called 'cell'"):
        doc_tables.blocks("<!-- study:cell -->\n<!-- /study:cell -->\n", "x.md")
    with pytest.raises(InputError, match="<!-- study:cells --> has no matching <!-- /study:cells --> line"):
        doc_tables.blocks("<!-- study:cells -->\n| a |\n", "x.md")


def test_docs_rewrites_the_tables_from_the_command_line(workdir, capsys):
    """--report-only --docs on a copy of the repository's documents with a drifted table."""
    copy_documents(workdir)
    readme = workdir / "README.md"
    row = next(line for line in readme.read_text().splitlines() if line.startswith("| MLP, fixed recipe | "))
    readme.write_text(readme.read_text().replace(row, row.replace(" | ", " | 1", 2)))
    benchmark.main(["--report-only", "--results", str(JOURNAL), "--docs", "--report", "r.md", "--figure", "r.png"])
    assert readme.read_text() == (ROOT / "README.md").read_text()
    assert "rewrote the study tables of README.md" in capsys.readouterr().err


# ---- three headline intervals, recomputed with independent formulas ------------------------------------------------


def accuracy(config: str) -> dict[int, float]:
    """The journal's test accuracy of `config` by seed, main block, read straight from the JSON lines."""
    found = {}
    for line in JOURNAL.read_text().splitlines():
        record = json.loads(line)
        if record["config"] == config and record.get("block", "main") == "main":
            found[record["seed"]] = record["metrics"]["acc"]
    return found


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    seeds = sorted(a.keys() & b.keys())
    return np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])


def headlines() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three contrasts as (x, y) paired arrays, the contrast being x − y seed by seed."""
    cnn = {cell: accuracy(f"cnn_{cell}") for cell in ("aux_shared", "aux_separate", "noaux_shared", "noaux_separate")}
    without, with_aux = (
        paired(cnn["noaux_shared"], cnn["noaux_separate"]),
        paired(cnn["aux_shared"], cnn["aux_separate"]),
    )
    return {
        # weight sharing in the tuned CNN with the aux loss: the narrow study's smallest factor effect
        "| CNN trunk, tuned | weight sharing (shared − separate) | auxiliary loss |": with_aux,
        # the tuned CNN's interaction: sharing's effect without the aux loss minus with it
        "| CNN trunk, tuned |": (without[0] - without[1], with_aux[0] - with_aux[1]),
        # tuning in the CNN with neither factor
        "| cnn_noaux_separate |": paired(accuracy("cnn_noaux_separate"), accuracy("fixed/cnn_noaux_separate")),
    }


def shown(row_start: str, section: str) -> tuple[float, float, float]:
    """The 'mean [low, high]' the committed docs/results.md shows in the first row starting with `row_start` after
    `section`, in points."""
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8").split(section, 1)[1]
    row = next(line for line in text.splitlines() if line.startswith(row_start))
    mean, low, high = re.search(r"\| ([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\] \|", row).groups()
    return float(mean), float(low), float(high)


SECTIONS = {
    "| CNN trunk, tuned | weight sharing (shared − separate) | auxiliary loss |": "### The 16 factor effects",
    "| CNN trunk, tuned |": "### Interactions",
    "| cnn_noaux_separate |": "### Tuned against the fixed recipe",
}


@pytest.mark.parametrize("row", list(SECTIONS))
def test_a_headline_interval_agrees_with_scipys_paired_t_test_and_a_bootstrap(row):
    x, y = headlines()[row]
    assert len(x) >= 50  # the main block: --precision 0.5 took at least 50 seeds
    test = stats.ttest_rel(x, y)
    low, high = test.confidence_interval(0.95)
    mean = float(np.mean(x - y))
    assert shown(row, SECTIONS[row]) == pytest.approx((100 * mean, 100 * low, 100 * high), abs=0.005 + 1e-9)
    # a percentile bootstrap of the mean difference: no t distribution, no normality; about as wide for 50+ seeds
    rng = np.random.default_rng(0)
    d = x - y
    means = d[rng.integers(0, len(d), size=(20_000, len(d)))].mean(axis=1)
    boot_low, boot_high = np.percentile(means, [2.5, 97.5])
    assert (100 * boot_low, 100 * boot_high) == pytest.approx((100 * low, 100 * high), abs=0.1)
