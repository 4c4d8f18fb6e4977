"""How fast the tree viewer opens: Connect Four search trees of 2,000 and 10,000 nodes written
as HTML pages and loaded in headless Chromium.

Each tree comes from the real game search (UCT with random rollouts on the empty board, one node
per simulation). The render time is the page's own: `performance.now()` when the viewer sets
`window.viewerReady`, i.e. milliseconds from navigation start (parsing the inline JSON, building
the child lists, rendering the root's children and the expanded principal variation). Also
timed: expanding the most visited collapsed child of the root (its toggle's click, in the page).
The tests check that such a page becomes ready and shows the right nodes, never how fast.

    .venv/bin/python bench/tree_viewer.py                 # 2,000 and 10,000 nodes, 3 loads each
    .venv/bin/python bench/tree_viewer.py --sizes 50000 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import print_table  # noqa: E402
from lmzero.explain import browser, game_tree_json, write_html  # noqa: E402
from lmzero.search import RolloutEvaluator, SearchConfig, search  # noqa: E402
from lmzero.tasks.connect4 import ConnectFour  # noqa: E402

EXPAND = """
var kids = document.querySelectorAll('#root-children > .node:not(.open)');
var best = null;
kids.forEach(function (k) { if (!k.querySelector(':scope > .row > .toggle').disabled
                                  && best === null) best = k; });
if (best === null) return -1;
var t = performance.now();
best.querySelector(':scope > .row > .toggle').click();
return performance.now() - t;
"""


def tree_of(nodes: int) -> dict:
    game = ConnectFour()
    config = SearchConfig(num_simulations=nodes, method="uct", leaves_per_call=8)
    result = search(game, RolloutEvaluator(game, seed=0), [game.initial_state()], config, rng=0)
    return game_tree_json(game, result, 0, config, title=f"connect4: {nodes:,} simulations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000],
                        help="Simulations (= nodes) of each tree.")
    parser.add_argument("--repeats", type=int, default=3, help="Page loads per tree.")
    args = parser.parse_args()
    why = browser.missing()
    if why:
        sys.exit(f"no headless Chromium: {why}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, browser.chromium() as driver:
        for size in args.sizes:
            started = time.perf_counter()
            tree = tree_of(size)
            page = Path(tmp) / f"tree-{size}.html"
            write_html(tree, page)
            built = time.perf_counter() - started
            loads, expands = [], []
            for _ in range(args.repeats):
                loads.append(browser.open_page(driver, page))
                expands.append(driver.execute_script(EXPAND))
            errors = browser.console_errors(driver)
            rows.append([f"{len(tree['nodes']):,}", f"{page.stat().st_size / 1e6:.2f}",
                         f"{built:.2f}", f"{statistics.median(loads):.0f}",
                         f"{min(loads):.0f}", f"{statistics.median(expands):.1f}",
                         str(len(errors))])
    print_table(f"tree viewer in headless Chromium ({args.repeats} loads per tree)",
                ["nodes", "HTML MB", "search+write s", "ready ms (median)", "ready ms (min)",
                 "expand ms", "console errors"], rows)


if __name__ == "__main__":
    main()
