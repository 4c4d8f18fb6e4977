"""One JSON schema, "lmzero-tree/1", for the trees of LM step search and of game search.

A file is one object; `docs/trees.md` describes every field. In short:

    {"schema": "lmzero-tree/1", "kind": "steps" | "game", "title", "summary",
     "settings": {search config}, "budget": {model calls, tokens, simulations, ...},
     "pv": [node ids, root .. leaf], "answer": node id | null, "waves": int,
     "nodes": [{"id", "parent", "step", "visits", "q", "prior", "value", "reward", "terminal",
                "closed", "tokens", "wave", "board" (games)}]}

Node ids are 0..n-1 in creation order, so a parent's id is always smaller than its child's and
the root is node 0. Values in a step tree are solve probabilities in [0, 1]; in a game tree
every value (`q`, `value`, `reward`) is from the point of view of the player who made the move
into the node (at the root: the player to move there), in [-1, 1].
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path

SCHEMA = "lmzero-tree/1"
KINDS = ("steps", "game")
CLOSED = ("dead end", "widening exhausted", "solved")
"""Why a node is closed (nothing left to search below it); null for an open node."""

TOP_FIELDS = ("schema", "kind", "title", "settings", "budget", "pv", "answer", "waves", "nodes")
NODE_FIELDS = ("id", "parent", "step", "visits", "q", "prior", "value", "reward", "terminal",
               "closed", "tokens", "wave")


def _num(x, digits: int = 4) -> float | None:
    """A finite float rounded for the file, or None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _settings(config) -> dict:
    return asdict(config) if is_dataclass(config) else dict(config or {})


def step_tree_json(task, result, config, problem=None) -> dict:
    """The tree of one `step_search` result (`StepSearchResult`) as a "lmzero-tree/1" dict.

    `config` is the `StepSearchConfig` the search ran with; `problem` (optional) names the
    problem in the title (else the root prompt's first line does)."""
    tree = result.tree
    described = task.describe(problem) if problem is not None else \
        (task.prompt(tree.states[0]).strip().splitlines() or ["(no prompt)"])[0]
    nodes = [_step_node(tree, n, result.closed) for n in range(len(tree))]
    end = result.path[-1]
    chosen = result.solved or (not config.verifier and tree.terminal[end])
    if result.solved:
        summary = f"solved: {result.answer}"
    elif result.exhausted:
        summary = "no solution: the search exhausted its tree"
    elif config.verifier:
        summary = "no verified solution within the budget"
    else:
        summary = "unsolved: the most visited path ends without a correct answer"
    return {"schema": SCHEMA, "kind": "steps", "title": f"{task.name}: {described}",
            "summary": summary, "settings": _settings(config),
            "budget": {**result.budget.as_dict(), "simulations": result.simulations},
            "pv": list(result.path), "answer": end if chosen else None,
            "waves": tree.wave_now, "nodes": nodes}


def _step_node(tree, n: int, closed: set[int]) -> dict:
    visits = tree.visits[n]
    return {"id": n, "parent": None if tree.parent[n] < 0 else tree.parent[n],
            "step": tree.step[n], "visits": visits,
            "q": _num(tree.value_sum[n] / visits) if visits else None,
            "prior": _num(tree.prior[n]),
            "value": _num(tree.estimate[n] if tree.raw_value[n] is None else tree.raw_value[n]),
            "reward": _num(tree.reward[n]) if tree.terminal[n] else None,
            "terminal": tree.terminal[n], "closed": _step_closed(tree, n, closed),
            "tokens": tree.tokens[n], "wave": tree.wave[n]}


def _step_closed(tree, n: int, closed: set[int]) -> str | None:
    """A terminal node is closed whether or not a walk reached it: "solved" when its reward is
    positive, else "dead end" (a wrong final state, or a node the model wrote nothing usable
    at). Other nodes are closed when the search closed them: they could widen no more and all
    their children were closed ("widening exhausted")."""
    if tree.terminal[n]:
        return "solved" if tree.reward[n] > 0 else "dead end"
    return "widening exhausted" if n in closed else None


def game_tree_json(game, result, index: int, config, title: str | None = None) -> dict:
    """Root `index`'s tree of a batched game `search` result (`SearchResult`) as a
    "lmzero-tree/1" dict. `config` is the `SearchConfig` the search ran with."""
    tree, b = result.tree, index
    count = int(tree.num_nodes[b])
    render = getattr(game, "render", None)
    nodes = [_game_node(tree, b, n, render) for n in range(count)]
    action = int(result.action[b])
    answer = int(tree.children[b, 0, action]) if action >= 0 else -1
    pv = [0] + (tree.most_visited_path(b, answer) if answer >= 0 else [])
    name = getattr(game, "move_name", None)  # the game's name for a move, else 1-based
    move = name(tree.states[b][0], action) if name and action >= 0 else action + 1
    summary = (f"move {move}, value {result.root_value[b]:+.3f} for the player to move"
               if action >= 0 else "no move: the game is over")
    budget = {"model_calls": result.evaluator_calls, "evaluations": result.evaluations,
              "prompt_tokens": None, "generated_tokens": None,
              "simulations": int(tree.visits[b, 0]) - 1}  # the root's evaluation is a visit
    return {"schema": SCHEMA, "kind": "game",
            "title": title or f"{game.name}: root {index}", "summary": summary,
            "settings": _settings(config), "budget": budget, "pv": pv,
            "answer": answer if answer >= 0 else None, "waves": int(result.waves),
            "nodes": nodes}


def _game_node(tree, b: int, n: int, render) -> dict:
    """Values turned to the point of view of the player who moved into the node: `value_sum`
    already is; `raw_value` is the mover-at-the-node's view, so it is multiplied by `sign`."""
    parent, visits, sign = int(tree.parent[b, n]), int(tree.visits[b, n]), int(tree.sign[b, n])
    action = int(tree.action[b, n])
    state = tree.state(b, n)
    value = _num(sign * tree.raw_value[b, n]) if tree.expanded[b, n] else None
    return {"id": n, "parent": parent if parent >= 0 else None,
            "step": action + 1 if parent >= 0 else None, "visits": visits,
            "q": _num(tree.value_sum[b, n] / visits) if visits else None,
            "prior": _num(tree.prior[b, parent, action]) if parent >= 0 else 1.0,
            "value": value, "reward": value if tree.terminal[b, n] else None,
            "terminal": bool(tree.terminal[b, n]),
            "closed": "solved" if tree.solved[b, n] else None, "tokens": None,
            "wave": int(tree.wave[b, n]),
            "board": render(state).splitlines() if render and state is not None else None}


def dumps(tree: dict) -> str:
    """The tree as JSON text (no NaN: `_num` turned those into null)."""
    return json.dumps(tree, allow_nan=False, separators=(",", ":"))


def write_tree_json(tree: dict, path) -> None:
    """Write the tree atomically (temporary file + rename)."""
    from lmzero.checkpoint import write_atomic
    write_atomic(Path(path), dumps(tree).encode())


def read_tree_json(path) -> dict:
    """Read and validate a "lmzero-tree/1" file; ValueError with one line naming what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") \
            from None
    try:
        tree = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    try:
        validate(tree)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return tree


def validate(tree) -> None:
    """Raise ValueError (one line) unless `tree` is a well-formed "lmzero-tree/1" dict.

    >>> validate({"schema": "lmzero-tree/0"})
    Traceback (most recent call last):
    ...
    ValueError: not an lmzero tree: "schema" is 'lmzero-tree/0', expected 'lmzero-tree/1'
    """
    if not isinstance(tree, dict):
        raise ValueError(f"not an lmzero tree: a JSON {type(tree).__name__}, not an object")
    if tree.get("schema") != SCHEMA:
        raise ValueError(f"not an lmzero tree: \"schema\" is {tree.get('schema')!r}, "
                         f"expected {SCHEMA!r}")
    missing = [k for k in TOP_FIELDS if k not in tree]
    if missing:
        raise ValueError(f"missing field {missing[0]!r}")
    if tree["kind"] not in KINDS:
        raise ValueError(f"\"kind\" must be one of {', '.join(KINDS)}, got {tree['kind']!r}")
    for name in ("settings", "budget"):
        if not isinstance(tree[name], dict):
            raise ValueError(f"{name!r} must be an object")
    nodes = tree["nodes"]
    if not isinstance(nodes, list) or not nodes:
        raise ValueError("\"nodes\" must be a non-empty list")
    for i, node in enumerate(nodes):
        _check_node(i, node, nodes)
    if not _count(tree["waves"]):
        raise ValueError(f"\"waves\" must be a non-negative integer, got {tree['waves']!r}")
    pv = tree["pv"]
    if not isinstance(pv, list) or not pv or pv[0] != 0 \
            or not all(_id(p, len(nodes)) for p in pv):
        raise ValueError("\"pv\" must be a list of node ids starting at the root (0)")
    for up, down in zip(pv, pv[1:]):
        if nodes[down]["parent"] != up:
            raise ValueError(f"\"pv\": node {down} is not a child of node {up}")
    if tree["answer"] is not None and not _id(tree["answer"], len(nodes)):
        raise ValueError(f"\"answer\" must be a node id or null, got {tree['answer']!r}")


def _check_node(i: int, node, nodes: list) -> None:
    where = f"node {i}"
    if not isinstance(node, dict):
        raise ValueError(f"{where}: must be an object")
    missing = [k for k in NODE_FIELDS if k not in node]
    if missing:
        raise ValueError(f"{where}: missing field {missing[0]!r}")
    if node["id"] != i:
        raise ValueError(f"{where}: \"id\" is {node['id']!r}; ids must be 0, 1, 2, ... in order")
    parent = node["parent"]
    if (i == 0) != (parent is None):
        raise ValueError(f"{where}: only the root (node 0) has a null \"parent\"")
    if i and not (_id(parent, i)):
        raise ValueError(f"{where}: \"parent\" must be the id of an earlier node, got {parent!r}")
    if not _count(node["visits"]):
        raise ValueError(f"{where}: \"visits\" must be a non-negative integer")
    for name in ("q", "prior", "value", "reward"):
        x = node[name]
        if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float))):
            raise ValueError(f"{where}: {name!r} must be a number or null, got {x!r}")
    if not isinstance(node["terminal"], bool):
        raise ValueError(f"{where}: \"terminal\" must be true or false")
    if node["closed"] is not None and node["closed"] not in CLOSED:
        raise ValueError(f"{where}: \"closed\" must be one of {', '.join(CLOSED)} or null")
    for name in ("tokens", "wave"):
        if node[name] is not None and not _count(node[name]):
            raise ValueError(f"{where}: {name!r} must be a non-negative integer or null")
    if i and node["wave"] is not None and nodes[parent]["wave"] is not None \
            and node["wave"] < nodes[parent]["wave"]:
        raise ValueError(f"{where}: born in wave {node['wave']}, before its parent")


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _id(x, below: int) -> bool:
    return _count(x) and x < below
