"""`lmzero report RUN_DIR`: one self-contained page of a run made by the real training code
(self-improvement and self-play), its example tree pages, and one line on bad input."""

import re
import sys
from dataclasses import replace

import pytest

from lmzero.loop import train
from lmzero.selfimprove import improve
from tests.test_selfimprove import TINY as TINY_IMPROVE
from tests.test_training import TINY as TINY_SELFPLAY
from tests.test_cli_edge import lmzero




@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-iteration self-improvement run (game24) and self-play run (tic-tac-toe): ~4 s."""
    root = tmp_path_factory.mktemp("runs")
    improve(replace(TINY_IMPROVE, iterations=1), root / "improve")
    train(replace(TINY_SELFPLAY, iterations=1), root / "selfplay")
    return root


def offline(page: str) -> None:
    """Nothing the page loads comes from elsewhere: no script, stylesheet link or remote URL."""
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)


def test_a_self_improvement_report_holds_plots_metrics_and_tree_links(monkeypatch, capsys,
                                                                      runs):
    run = runs / "improve"
    code, stdout, stderr = lmzero(monkeypatch, capsys, "report", run)
    assert code == 0, stderr
    page = (run / "report" / "index.html").read_text()
    offline(page)
    plots = sorted(p.name for p in (run / "plots").glob("*.png"))
    assert plots == ["curation.png", "strength.png"]
    assert page.count('src="data:image/png;base64,') == len(plots)
    for column in ("heldout_greedy_pass1", "heldout_mcts_solved", "mcts_calls_per_solved",
                   "curation_holes", "train_solve_rate"):
        assert f"<th>{column}</th>" in page
    assert "Curation buckets" in page and "<td class=\"text\">16+</td>" in page
    links = re.findall(r'<a href="([^"]+)">', page)
    assert links == ["tree-1.html", "tree-2.html", "tree-3.html"]
    for link in links:
        tree_page = (run / "report" / link).read_text()
        assert "lmzero-tree/1" in tree_page and "game24" in tree_page
    assert "report/index.html" in stdout and "3 example trees" in stdout


def test_a_self_play_report_in_another_directory(monkeypatch, capsys, runs, tmp_path):
    run = runs / "selfplay"
    code, _, stderr = lmzero(monkeypatch, capsys, "report", run, "-o", tmp_path / "out",
                             "--examples", "2")
    assert code == 0, stderr
    page = (tmp_path / "out" / "index.html").read_text()
    offline(page)
    assert not (run / "report").exists()
    for column in ("games", "loss_total", "raw_vs_solver_score"):
        assert f"<th>{column}</th>" in page
    assert "Curation buckets" not in page  # self-play has none
    assert page.count('src="data:image/png;base64,') == 1  # strength.png
    assert re.findall(r'<a href="([^"]+)">', page) == ["tree-1.html", "tree-2.html"]
    assert "tictactoe: the initial position" in page
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["index.html", "tree-1.html", "tree-2.html"]


def test_without_lmzero_explain_the_trees_are_skipped_with_a_note(monkeypatch, capsys, runs,
                                                                   tmp_path):
    monkeypatch.setitem(sys.modules, "lmzero.explain", None)  # `import` raises ImportError
    code, stdout, stderr = lmzero(monkeypatch, capsys, "report", runs / "selfplay", "-o",
                                  tmp_path)
    assert code == 0, stderr
    page = (tmp_path / "index.html").read_text()
    assert "example trees: skipped" in page and "<a href" not in page
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
    assert "0 example trees: skipped" in stdout


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "not a run directory"),
    (lambda d: (d / "afile").write_text("x") and d / "afile", "not a run directory"),
    (lambda d: d, "no metrics.jsonl"),
    (lambda d: (d / "metrics.jsonl").write_text("not json\n\n") and d, "no metrics rows"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, make, message):
    target = make(tmp_path)
    code, stdout, stderr = lmzero(monkeypatch, capsys, "report", target)
    assert code == 2 and stdout == ""
    assert stderr.startswith("lmzero: error: ") and stderr.count("\n") == 1
    assert message in stderr
    assert not (tmp_path / "report").exists()
