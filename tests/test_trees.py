"""Search trees as "lmzero-tree/1" JSON and as an offline HTML page: the schema against known
search results, the file checks, the CLI commands that write trees, and the page in a real
headless Chromium (skipped, with the reason, only where Chromium cannot be installed)."""

import json
import os
import re
import shutil
import subprocess

import pytest

from lmzero.explain import (game_tree_json, read_tree_json, render_html, step_tree_json,
                            write_html, write_tree_json)
from lmzero.explain import browser
from lmzero.search import ExactEvaluator, RolloutEvaluator, SearchConfig, reuse_tree, search
from lmzero.search.budget import Budget
from lmzero.search.step_search import StepSearchConfig, step_search
from lmzero.tasks.arith import Problem
from lmzero.tasks.connect4 import ConnectFour
from lmzero.tasks.game24 import TASK
from lmzero.tasks.tictactoe import TicTacToe, solve
from tests.checkpoints import untrained_checkpoint
from tests.test_step_search import PUZZLE, SOLUTION, ToyModel
from tests.test_cli_edge import lmzero

UNSOLVABLE = Problem.make([1, 1, 1, 1], 24)


def step_tree(problem=PUZZLE, favourite=(), budget=40, **config):
    """A step search with the toy model (known proposals) and its tree as JSON."""
    config = StepSearchConfig(**{"k": 2, "leaves_per_call": 2, **config})
    [result] = step_search(TASK, ToyModel(favourite=favourite), [problem], config,
                           [Budget(max_calls=budget)])
    return result, step_tree_json(TASK, result, config, problem=problem)


def connect4_tree(simulations=2000, moves=""):
    game = ConnectFour()
    config = SearchConfig(num_simulations=simulations, method="uct", leaves_per_call=8)
    result = search(game, RolloutEvaluator(game, seed=0), [game.from_moves(moves)], config, rng=0)
    return result, game_tree_json(game, result, 0, config, title=f"connect4: {moves or 'empty'}")


def children_of(tree, node):
    return [n["id"] for n in tree["nodes"] if n["parent"] == node]


def check_waves(tree):
    """Every node's wave is known, the root's is 0, none comes before its parent's."""
    waves = [n["wave"] for n in tree["nodes"]]
    assert waves[0] == 0 and all(isinstance(w, int) for w in waves)
    assert all(waves[n["id"]] >= waves[n["parent"]] for n in tree["nodes"][1:])
    assert max(waves) <= tree["waves"]


# ---------------------------------------------------------------- the schema, step search

def test_step_tree_json_mirrors_the_search_tree():
    result, tree = step_tree(favourite=SOLUTION, leaves_per_call=1, widen=False)
    t = result.tree
    assert result.solved and tree["schema"] == "lmzero-tree/1" and tree["kind"] == "steps"
    assert len(tree["nodes"]) == len(t)
    assert [n["parent"] for n in tree["nodes"]] == [None] + t.parent[1:]
    assert [n["visits"] for n in tree["nodes"]] == t.visits
    assert [n["step"] for n in tree["nodes"]] == t.step
    assert tree["pv"] == result.path and tree["answer"] == result.path[-1]
    assert [tree["nodes"][n]["step"] for n in tree["pv"][1:]] == SOLUTION
    answer = tree["nodes"][tree["answer"]]
    assert answer["terminal"] and answer["reward"] == 1.0 and answer["closed"] == "solved"
    assert tree["summary"] == f"solved: {result.answer}"
    assert tree["settings"]["k"] == 2 and tree["budget"]["model_calls"] == 3
    # every token charged to the budget belongs to the node the request was about
    used = result.budget
    assert sum(n["tokens"] for n in tree["nodes"]) == used.prompt_tokens + used.generated_tokens
    check_waves(tree)
    assert tree["waves"] == 3  # root expansion, then one wave per favourite step
    json.dumps(tree, allow_nan=False)


def test_exhausted_search_says_why_each_node_closed():
    result, tree = step_tree(UNSOLVABLE, budget=10_000, leaves_per_call=4)
    assert result.exhausted and not result.solved and tree["answer"] is None
    nodes = tree["nodes"]
    assert nodes[0]["closed"] == "widening exhausted"
    for n in nodes:
        if n["terminal"]:
            assert n["closed"] == "dead end" and n["reward"] == 0.0
        else:  # a node closes only once all its children have: so every one has
            assert n["closed"] == "widening exhausted"
    assert tree["summary"].startswith("no solution")
    check_waves(tree)


@pytest.mark.parametrize("config", [dict(method="gumbel"), dict(verifier=False),
                                    dict(values="rollout"), dict(method="gumbel", verifier=False)])
def test_every_search_setting_gives_a_valid_tree(config):
    from lmzero.explain import validate
    result, tree = step_tree(budget=24, **config)
    validate(tree)
    check_waves(tree)
    assert tree["pv"] == result.path and len(tree["nodes"]) == len(result.tree)
    assert tree["settings"] == {**tree["settings"], **config}
    if not config.get("verifier", True):  # the answer is the most visited path's end, if final
        assert tree["answer"] == (result.path[-1] if result.tree.terminal[result.path[-1]]
                                  else None)


def test_waves_follow_the_search_as_it_grows():
    result, tree = step_tree(budget=30, leaves_per_call=2)
    check_waves(tree)
    assert [n["wave"] for n in tree["nodes"]] == result.tree.wave
    assert {n["wave"] for n in tree["nodes"]} >= {0, 1, 2}  # nodes came in several waves
    assert all(n["wave"] == 1 for n in tree["nodes"] if n["parent"] == 0
               and n["id"] <= 2)  # the root's first k children came with its expansion


# ---------------------------------------------------------------- the schema, game search

def test_game_tree_json_mirrors_the_search_tree():
    result, tree = connect4_tree(simulations=300)
    t, nodes = result.tree, tree["nodes"]
    assert tree["kind"] == "game" and len(nodes) == int(t.num_nodes[0])
    assert [n["visits"] for n in nodes] == t.visits[0, :len(nodes)].tolist()
    assert all(n["parent"] == int(t.parent[0, n["id"]]) for n in nodes[1:])
    chosen = int(result.action[0])
    assert tree["answer"] == tree["pv"][1] == int(t.children[0, 0, chosen])
    assert nodes[tree["answer"]]["step"] == chosen + 1
    for kid in children_of(tree, 0):  # q is the mover's view: the root edge's value
        assert nodes[kid]["q"] == pytest.approx(result.q_values[0, nodes[kid]["step"] - 1],
                                                abs=1e-4)
    assert tree["waves"] == result.waves and result.waves > 1
    check_waves(tree)
    assert nodes[0]["board"][-1] == "1 2 3 4 5 6 7" and len(nodes[0]["board"]) == 7


def test_game_values_are_the_movers_and_terminal_wins_are_solved():
    game = TicTacToe()
    state = game.initial_state()
    for move in (0, 3, 1, 4):  # X holds 1 and 2, O holds 4 and 5: X wins at 3 (action 2)
        state = game.apply(state, move)
    config = SearchConfig(num_simulations=60, method="puct", leaves_per_call=1)
    result = search(game, ExactEvaluator(game, solve), [state], config, rng=0)
    tree = game_tree_json(game, result, 0, config)
    win = next(n for n in tree["nodes"] if n["parent"] == 0 and n["step"] == 3)
    assert win["terminal"] and win["reward"] == 1.0 and win["closed"] == "solved"
    assert win["value"] == 1.0 and win["q"] == 1.0
    assert tree["answer"] == win["id"]


def test_a_reused_tree_keeps_its_nodes_in_wave_0():
    game = ConnectFour()
    config = SearchConfig(num_simulations=200, method="uct")
    first = search(game, RolloutEvaluator(game, seed=0), [game.initial_state()], config, rng=0)
    kept = reuse_tree(first.tree, game, [int(first.action[0])])
    again = search(game, RolloutEvaluator(game, seed=1), None, config, rng=1, tree=kept)
    tree = game_tree_json(game, again, 0, config)
    check_waves(tree)
    assert tree["nodes"][1]["wave"] == 0 and max(n["wave"] for n in tree["nodes"]) > 0


# ---------------------------------------------------------------- reading files back

def test_json_round_trip(tmp_path):
    _, tree = step_tree()
    write_tree_json(tree, tmp_path / "t.json")
    assert read_tree_json(tmp_path / "t.json") == json.loads(json.dumps(tree))


def _broken(tree, change):
    tree = json.loads(json.dumps(tree))
    change(tree)
    return tree


@pytest.mark.parametrize("change, message", [
    (lambda t: t.update(schema="other/1"), r'"schema" is .other/1., expected'),
    (lambda t: t.pop("pv"), r"missing field 'pv'"),
    (lambda t: t.update(kind="chess"), r'"kind" must be one of steps, game'),
    (lambda t: t.update(nodes=[]), r'"nodes" must be a non-empty list'),
    (lambda t: t["nodes"][2].update(parent=7), r"node 2: \"parent\" must be the id of an earlier"),
    (lambda t: t["nodes"][1].update(id=5), r"node 1: \"id\" is 5"),
    (lambda t: t["nodes"][1].update(visits=-1), r"node 1: \"visits\" must be a non-negative"),
    (lambda t: t["nodes"][1].update(q="high"), r"node 1: 'q' must be a number or null"),
    (lambda t: t["nodes"][1].update(closed="bored"), r"node 1: \"closed\" must be one of"),
    (lambda t: t["nodes"][1].pop("wave"), r"node 1: missing field 'wave'"),
    (lambda t: t["nodes"][1].update(wave=0) or t["nodes"][0].update(wave=3),
     r"node 1: born in wave 0, before its parent"),
    (lambda t: t.update(pv=[0, 5]), r'"pv": node 5 is not a child of node 0'),
    (lambda t: t.update(answer=10**6), r'"answer" must be a node id or null'),
    (lambda t: t.update(waves=-2), r'"waves" must be a non-negative integer'),
])
def test_read_tree_json_names_what_is_wrong(tmp_path, change, message):
    _, tree = step_tree(favourite=SOLUTION, leaves_per_call=1, widen=False)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_broken(tree, change)))
    with pytest.raises(ValueError, match=message) as error:
        read_tree_json(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_read_tree_json_refuses_what_is_not_a_tree_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read it"):
        read_tree_json(tmp_path / "missing.json")
    (tmp_path / "a.json").write_text("{nope")
    with pytest.raises(ValueError, match="not JSON"):
        read_tree_json(tmp_path / "a.json")
    (tmp_path / "b.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="a JSON list, not an object"):
        read_tree_json(tmp_path / "b.json")


# ---------------------------------------------------------------- the page, without a browser

def embedded(page: str) -> dict:
    data = re.search(r'<script type="application/json" id="tree-data">(.*?)</script>', page,
                     re.S).group(1)
    return json.loads(data)


def test_page_is_self_contained_and_its_data_cannot_break_out():
    _, tree = step_tree()
    hostile = "</script><script>alert(1)</script><!-- __TREE_DATA__ & /*VIEWER_JS*/"
    tree["nodes"][1]["step"] = hostile
    tree["title"] = "<b>" + hostile
    page = render_html(tree)
    assert not re.search(r"https?://", page)  # nothing to fetch: no CDN, no server
    assert page.count("<script") == 2 and "alert(1)</script>" not in page
    assert embedded(page) == json.loads(json.dumps(tree))
    assert "<title>&lt;b&gt;&lt;/script&gt;" in page


def test_write_html_is_atomic_and_refuses_a_broken_tree(tmp_path):
    _, tree = step_tree()
    write_html(tree, tmp_path / "deep" / "t.html")
    assert (tmp_path / "deep" / "t.html").read_text().startswith("<!DOCTYPE html>")
    assert os.listdir(tmp_path / "deep") == ["t.html"]  # no temporary file left behind
    with pytest.raises(ValueError, match="missing field 'nodes'"):
        write_html({k: v for k, v in tree.items() if k != "nodes"}, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


# ---------------------------------------------------------------- the commands



@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    from lmzero.tasks import game24
    return untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "game24", game24.TASK, 192)


def test_solve_writes_the_page_and_the_json(untrained, tmp_path, monkeypatch, capsys):
    code, out, err = lmzero(monkeypatch, capsys, "solve", "game24", "4 9 10 13", "--checkpoint",
                            untrained, "--budget", 6, "--html", tmp_path / "t.html",
                            "--tree-json", tmp_path / "t.json")
    assert code in (0, 1), err
    tree = read_tree_json(tmp_path / "t.json")
    assert tree["title"] == "game24: 4 9 10 13 -> 24" and tree["budget"]["model_calls"] <= 6
    assert embedded((tmp_path / "t.html").read_text()) == tree
    assert f"tree: {tmp_path / 't.html'}" in out


def test_solve_refuses_an_unwritable_page_before_searching(untrained, tmp_path, monkeypatch,
                                                           capsys):
    (tmp_path / "file").write_text("")
    code, out, err = lmzero(monkeypatch, capsys, "solve", "game24", "4 9 10 13", "--checkpoint",
                            untrained, "--html", tmp_path / "file" / "t.html")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--html" in err and "not a writable directory" in err


def test_analyse_writes_the_first_positions_tree(tmp_path, monkeypatch, capsys):
    positions = tmp_path / "p.txt"
    positions.write_text("4453\n\n")
    code, out, err = lmzero(monkeypatch, capsys, "analyse", "connect4", "--positions", positions,
                            "--rollouts", "--simulations", 300, "--html", tmp_path / "a.html",
                            "--tree-json", tmp_path / "a.json")
    assert code == 0, err
    tree = read_tree_json(tmp_path / "a.json")
    # every node: one per simulation, less the walks that ended at a node already there (a
    # finished game); the root's evaluation is its first visit
    assert tree["title"] == "connect4: 4453" and tree["nodes"][0]["visits"] == 301
    assert 280 <= len(tree["nodes"]) <= 301
    if len(tree["nodes"]) < 301:
        assert any(n["terminal"] for n in tree["nodes"])
    assert "first position" in err and err.count("\n") == 1
    assert embedded((tmp_path / "a.html").read_text()) == tree


def test_eval_writes_one_tree_per_problem(untrained, tmp_path, monkeypatch, capsys):
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"numbers": [4, 9, 10, 13], "target": 24}\n'
                        '{"numbers": [1, 1, 1, 1], "target": 24}\n')
    code, out, err = lmzero(monkeypatch, capsys, "eval", "game24", "--checkpoint", untrained,
                            "--problems", problems, "--budget", 4, "--trees", tmp_path / "trees",
                            "--json")
    assert code == 0, err
    json.loads(out)  # stdout stays one JSON object
    assert sorted(os.listdir(tmp_path / "trees")) == [
        "problem-0001.html", "problem-0001.json", "problem-0002.html", "problem-0002.json"]
    titles = [read_tree_json(tmp_path / "trees" / f"problem-000{i}.json")["title"]
              for i in (1, 2)]
    assert titles == ["game24: 4 9 10 13 -> 24", "game24: 1 1 1 1 -> 24"]


def test_eval_trees_need_a_search_method(untrained, tmp_path, monkeypatch, capsys):
    code, out, err = lmzero(monkeypatch, capsys, "eval", "game24", "--checkpoint", untrained,
                            "--method", "greedy", "--limit", 1, "--trees", tmp_path)
    assert code == 2 and err.count("\n") == 1 and "--method mcts or gumbel" in err


def test_view_turns_json_into_a_page(tmp_path, monkeypatch, capsys):
    _, tree = step_tree()
    write_tree_json(tree, tmp_path / "t.json")
    code, out, err = lmzero(monkeypatch, capsys, "view", tmp_path / "t.json")
    assert code == 0 and (tmp_path / "t.html").exists(), err
    code, out, err = lmzero(monkeypatch, capsys, "view", tmp_path / "t.json", "-o",
                            tmp_path / "other.html")
    assert code == 0 and embedded((tmp_path / "other.html").read_text()) == tree


@pytest.mark.parametrize("case", ["missing", "not a tree", "not json", "unwritable", "itself"])
def test_view_fails_in_one_line(tmp_path, monkeypatch, capsys, case):
    _, tree = step_tree()
    good = tmp_path / "t.json"
    write_tree_json(tree, good)
    (tmp_path / "plain.json").write_text('{"a": 1}')
    (tmp_path / "junk.json").write_text("\x00\x01")
    (tmp_path / "file").write_text("")
    args = {"missing": [tmp_path / "nope.json"], "not a tree": [tmp_path / "plain.json"],
            "not json": [tmp_path / "junk.json"],
            "unwritable": [good, "-o", tmp_path / "file" / "t.html"],
            "itself": [good, "-o", good]}[case]
    code, out, err = lmzero(monkeypatch, capsys, "view", *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("lmzero: error:")
    assert read_tree_json(good) == json.loads(json.dumps(tree))  # never overwritten


# ---------------------------------------------------------------- the page in Chromium

@pytest.fixture(scope="module")
def driver():
    """One headless Chromium for the module; installed first where it is missing and this is
    root on Debian (apt-get), else the tests are skipped with the reason."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install "
                        "'lmzero[dev]')")
    if None in browser.binaries() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]):
            subprocess.run(command, capture_output=True, timeout=900, env=env)
    why = browser.missing()
    if why:
        pytest.skip(f"no headless Chromium: {why}")
    with browser.chromium() as d:
        yield d


def rendered_ids(driver, selector):
    from selenium.webdriver.common.by import By
    return [int(e.get_attribute("data-id")) for e in driver.find_elements(By.CSS_SELECTOR,
                                                                          selector)]


@pytest.mark.slow  # starts Chromium (installs it first where missing)
def test_step_tree_page_in_chromium(driver, tmp_path):
    from selenium.webdriver.common.by import By
    _, tree = step_tree(budget=60, leaves_per_call=2)
    tree["nodes"][1]["step"] = "</script><b>not bold</b>"
    write_html(tree, tmp_path / "t.html")
    browser.open_page(driver, tmp_path / "t.html")
    assert browser.console_errors(driver) == []
    root_kids = children_of(tree, 0)
    assert sorted(rendered_ids(driver, "#root-children > .node")) == sorted(root_kids)
    assert rendered_ids(driver, ".node.pv") == tree["pv"]  # PV expanded at load, in order
    step = driver.find_element(By.CSS_SELECTOR, '.node[data-id="1"] > .row .step')
    assert step.text == "</script><b>not bold</b>"
    # expand a collapsed node with children: its children appear, collapse: they go again
    closed = next(k for k in root_kids if k not in tree["pv"] and children_of(tree, k))
    toggle = driver.find_element(By.CSS_SELECTOR, f'.node[data-id="{closed}"] > .row > .toggle')
    assert rendered_ids(driver, f'.node[data-id="{closed}"] .node') == []
    toggle.click()
    assert sorted(rendered_ids(driver, f'.node[data-id="{closed}"] > .children > .node')) == \
        sorted(children_of(tree, closed))
    toggle.click()
    assert rendered_ids(driver, f'.node[data-id="{closed}"] .node') == []
    # clicking a row shows its details
    driver.find_element(By.CSS_SELECTOR, f'.node[data-id="{closed}"] > .row .step').click()
    assert driver.find_element(By.CSS_SELECTOR, "#details h2").text == f"node {closed}"
    driver.save_screenshot(str(tmp_path / "steps.png"))
    assert (tmp_path / "steps.png").stat().st_size > 0
    assert browser.console_errors(driver) == []


@pytest.mark.slow  # starts Chromium (installs it first where missing)
def test_wave_slider_shows_the_tree_as_it_was(driver, tmp_path):
    _, tree = step_tree(budget=60, leaves_per_call=2)
    write_html(tree, tmp_path / "t.html")
    browser.open_page(driver, tmp_path / "t.html")
    for wave in (0, 1, 2, tree["waves"]):
        driver.execute_script("var r = document.getElementById('wave'); r.value = arguments[0];"
                              "r.dispatchEvent(new Event('input'));", wave)
        shown = set(rendered_ids(driver, ".node"))
        born = {n["id"] for n in tree["nodes"] if n["wave"] <= wave}
        assert shown <= born and 0 in shown
        assert sorted(rendered_ids(driver, "#root-children > .node")) == \
            sorted(k for k in children_of(tree, 0) if k in born)
    assert browser.console_errors(driver) == []


@pytest.mark.slow  # starts Chromium (installs it first where missing)
def test_a_2000_node_connect4_tree_renders(driver, tmp_path):
    """The render time is printed, not asserted (bench/tree_viewer.py measures it)."""
    from selenium.webdriver.common.by import By
    _, tree = connect4_tree(simulations=2000)
    assert len(tree["nodes"]) >= 2000
    write_html(tree, tmp_path / "c4.html")
    ms = browser.open_page(driver, tmp_path / "c4.html")
    print(f"\n2,000-node Connect Four tree: ready {ms:.0f} ms after navigation start")
    assert browser.console_errors(driver) == []
    assert sorted(rendered_ids(driver, "#root-children > .node")) == children_of(tree, 0)
    assert rendered_ids(driver, ".node.pv") == tree["pv"]
    assert len(driver.find_elements(By.CSS_SELECTOR, ".node")) < len(tree["nodes"])  # lazy
    driver.save_screenshot(str(tmp_path / "connect4.png"))


def test_viewer_script_has_no_closing_tag_and_no_network():
    """What the page inlines: no `</` inside the script, no URL to fetch anywhere."""
    from importlib import resources
    viewer = resources.files("lmzero.explain") / "viewer"
    for name in ("viewer.html", "viewer.js", "viewer.css"):
        text = (viewer / name).read_text()
        assert not re.search(r"https?://", text), name
    assert "</" not in (viewer / "viewer.js").read_text()
    assert all(m in (viewer / "viewer.html").read_text()
               for m in ("/*VIEWER_CSS*/", "/*VIEWER_JS*/", "__TREE_DATA__"))


@pytest.mark.slow  # starts Chromium (installs it first where missing)
def test_the_issue_bar_solve_game24_html_opens_offline_with_its_pv(driver, tmp_path,
                                                                   monkeypatch, capsys):
    """`lmzero solve game24 "4 9 10 13" --html t.html` with the shipped model: the page opens
    from disk in headless Chromium without console errors and shows the principal variation,
    ending at the solution."""
    from selenium.webdriver.common.by import By
    code, out, err = lmzero(monkeypatch, capsys, "solve", "game24", "4 9 10 13", "--html",
                            tmp_path / "t.html")
    assert code == 0, err
    tree = embedded((tmp_path / "t.html").read_text())
    browser.open_page(driver, tmp_path / "t.html")
    assert browser.console_errors(driver) == []
    assert rendered_ids(driver, ".node.pv") == tree["pv"] and tree["answer"] == tree["pv"][-1]
    last = driver.find_element(By.CSS_SELECTOR, f'.node[data-id="{tree["pv"][-1]}"] > .row')
    assert "(left: 24)" in last.text
