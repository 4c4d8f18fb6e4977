"""Progress of long commands: the callback the methods report through counts every problem
once with the right figures, and the bar stays on stderr (off when stderr is no terminal)."""

import json

import pytest

from lmzero.eval.reasoning import BY_VALUE_METHODS, METHODS, MethodConfig, evaluate
from lmzero.search import SearchConfig, search
from lmzero.search.budget import Budget
from lmzero.search.evaluators import RolloutEvaluator
from lmzero.search.step_search import StepSearchConfig, step_search
from lmzero.tasks.arith import Problem
from lmzero.tasks.game24 import TASK
from lmzero.tasks.tictactoe import TicTacToe
from tests.test_legal_actions import ValuedScorer
from tests.test_step_search import PUZZLE, SOLUTION, ToyModel
from tests.test_cli_edge import lmzero

UNSOLVABLE = Problem.make([1, 1, 1, 1], 24)




def test_step_search_counts_each_problem_once_when_it_finishes():
    calls = []
    budgets = [Budget(max_calls=50), Budget(max_calls=40)]
    results = step_search(TASK, ToyModel(favourite=SOLUTION), [PUZZLE, UNSOLVABLE],
                          StepSearchConfig(k=2, leaves_per_call=1, widen=False), budgets,
                          progress=lambda *figures: calls.append(figures))
    done = [d for d, _, _, _ in calls]
    assert done == sorted(done) and done[-1] == 2  # never falls, never counts one twice
    # the puzzle is solved in 3 calls, long before 1 1 1 1 ends: it is counted alone first,
    # as solved, and stays counted while the other still searches
    first = done.index(1)
    assert calls[first][1] == 1 and done.count(1) > 1
    assert [r.solved for r in results] == [True, False]
    assert calls[-1] == (2, 1, sum(b.model_calls for b in budgets),
                         sum(b.generated_tokens for b in budgets))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reports_all_problems_with_the_solved_count_of_its_report(method):
    problems = [PUZZLE, UNSOLVABLE, Problem.make([4, 9, 10, 13], 24)]
    calls = []
    config = MethodConfig(method=method, budget=12, k=2, width=2, batch=2)  # two chunks
    model = (ValuedScorer if method in BY_VALUE_METHODS else ToyModel)(favourite=SOLUTION)
    report = evaluate(TASK, model, problems, config,
                      progress=lambda *figures: calls.append(figures))
    done = [d for d, _, _, _ in calls]
    assert done == sorted(done) and done[-1] == 3
    assert all(s <= d for d, s, _, _ in calls)
    total_calls = sum(p["model_calls"] for p in report["problems"])
    assert calls[-1][:3] == (3, report["solved"], total_calls)
    assert calls[-1][3] == pytest.approx(report["generated_tokens"] * 3, abs=0.02)  # a mean


def test_game_search_reports_the_simulations_done():
    seen = []
    game = TicTacToe()
    roots = [game.initial_state(), game.apply(game.initial_state(), 4)]
    search(game, RolloutEvaluator(game, seed=0), roots, SearchConfig(num_simulations=30),
           rng=0, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 2 * 30


def test_json_stays_pure_when_the_bar_is_forced_on(monkeypatch, capsys, tmp_path):
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"numbers": [4, 9, 10, 13], "target": 24}\n'
                        '{"numbers": [1, 1, 1, 1], "target": 24}\n')
    code, stdout, stderr = lmzero(monkeypatch, capsys, "eval", "game24", "--problems", problems,
                                  "--method", "mcts", "--budget", "8", "--json", "--progress")
    assert code == 0, stderr
    assert json.loads(stdout)["total"] == 2  # the whole of stdout is the one JSON object
    assert "game24 mcts" in stderr and "2/2" in stderr and "calls/problem" in stderr


def test_analyse_json_lines_stay_pure_with_the_bar(monkeypatch, capsys, tmp_path):
    positions = tmp_path / "positions.txt"
    positions.write_text("4453\n\n")
    code, stdout, stderr = lmzero(monkeypatch, capsys, "analyse", "connect4", "--positions",
                                  positions, "--simulations", "20", "--json", "--progress")
    assert code == 0, stderr
    assert [json.loads(line)["position"] for line in stdout.splitlines()] == ["4453", ""]
    assert "40/40" in stderr


@pytest.mark.parametrize("args", [
    ["eval", "game24", "--method", "greedy", "--limit", "3"],
    ["eval", "game24", "--method", "mcts", "--budget", "4", "--limit", "2", "--json"],
    ["solve", "game24", "4 9 10 13", "--budget", "8"],
])
def test_no_bar_on_stderr_that_is_no_terminal_unless_asked(monkeypatch, capsys, args):
    code, stdout, stderr = lmzero(monkeypatch, capsys, *args)
    assert code in (0, 1) and stdout
    assert stderr == ""
