"""The planner: a batched tree as data, and search as functions over it.

    roots ──► select_leaves (PUCT | UCT | Gumbel, virtual loss) ──► new leaves
                 ▲                                                    │
                 │                         Evaluator.evaluate(states) ▼  (one call per wave)
              backward ◄──────────────────────────── priors, values, terminal outcomes

Open action spaces (a language model writes the steps): `step_search` over `StepTree`s, with
progressive widening, and the baselines of `baselines.py`, all charging one `Budget`.
"""

from lmzero.search.budget import Budget
from lmzero.search.evaluators import Evaluator, ExactEvaluator, RolloutEvaluator
from lmzero.search.search import SearchConfig, SearchResult, reuse_tree, search
from lmzero.search.step_search import StepSearchConfig, StepSearchResult, step_search
from lmzero.search.tree import NO_CHILD, ROOT, Tree

__all__ = ["Budget", "Evaluator", "ExactEvaluator", "RolloutEvaluator", "SearchConfig",
           "SearchResult", "StepSearchConfig", "StepSearchResult", "reuse_tree", "search",
           "step_search", "Tree", "ROOT", "NO_CHILD"]
