"""The planner: a batched tree as data, and search as functions over it.

    roots ──► select_leaves (PUCT | UCT | Gumbel, virtual loss) ──► new leaves
                 ▲                                                    │
                 │                         Evaluator.evaluate(states) ▼  (one call per wave)
              backward ◄──────────────────────────── priors, values, terminal outcomes
"""

from lmzero.search.evaluators import Evaluator, ExactEvaluator, RolloutEvaluator
from lmzero.search.search import SearchConfig, SearchResult, reuse_tree, search
from lmzero.search.tree import NO_CHILD, ROOT, Tree

__all__ = ["Evaluator", "ExactEvaluator", "RolloutEvaluator", "SearchConfig", "SearchResult",
           "reuse_tree", "search", "Tree", "ROOT", "NO_CHILD"]
