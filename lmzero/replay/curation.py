"""Curation: find the holes in the training data and steer the loop at them.

Each attempted problem lands in the bucket its task names (`task.bucket`: Game of 24, how many
solutions; Countdown, k and target size; math, the number of operations). Per bucket the curator counts attempts, solves and replay examples; a bucket with few
examples or a low solve rate is a *hole*. Holes are overweighted in the replay sampler, the next
iteration's problems favour the *frontier* (sometimes solved, sometimes not: where search results
teach the most) and hole buckets, and a task that generates problems aims generation at them
(`task.generate_for_buckets`). The
seed's words: "analyse the holes in your data distribution ... overweight or replay certain parts
... put synthetic generation to work on the gaps".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lmzero.tasks.base import StepTask


@dataclass(frozen=True)
class CurationConfig:
    """When a bucket is a hole, how much to overweight it, and how problems are chosen."""

    min_example_share: float = 0.5
    """A bucket holding fewer replay examples than this fraction of an even share (total examples
    / number of buckets) is a hole."""
    low_solve_rate: float = 0.2
    """A bucket whose smoothed solve rate is below this is a hole."""
    hole_weight: float = 2.0
    """Replay weight factor per hole reason (few examples, low solve rate): both give its square."""
    max_weight: float = 4.0
    """Cap on the ratio between any bucket's weight and an ordinary bucket's."""
    frontier_low: float = 0.1
    """A problem (or bucket) is on the frontier when its smoothed solve rate is above this ..."""
    frontier_high: float = 0.9
    """... and below this: search there sometimes succeeds, so its results teach the most."""
    off_frontier: float = 0.1
    """Relative chance, when choosing problems, of a seen problem off the frontier (almost always
    or almost never solved) against a frontier or unseen one."""
    explore: float = 0.25
    """Share of chosen problems drawn uniformly from the pool, so no problem starves."""
    prior_attempts: float = 2.0
    """Beta smoothing strength in pseudo-attempts: a problem's rate shrinks to its bucket's, a
    bucket's to the overall rate, so one lucky attempt does not decide."""

    def __post_init__(self):
        if not 0 <= self.min_example_share <= 1:
            raise ValueError(f"min_example_share={self.min_example_share}: set it in [0, 1] "
                             "(0 never flags few examples)")
        if not 0 <= self.low_solve_rate <= 1:
            raise ValueError(f"low_solve_rate={self.low_solve_rate}: set it in [0, 1] "
                             "(0 never flags low solve rates)")
        if self.hole_weight < 1:
            raise ValueError(f"hole_weight={self.hole_weight}: set it >= 1 (1 turns off "
                             "overweighting)")
        if self.max_weight < 1:
            raise ValueError(f"max_weight={self.max_weight}: set it >= 1 (a cap below 1 would "
                             "underweight holes)")
        if not 0 <= self.frontier_low < self.frontier_high <= 1:
            raise ValueError(f"frontier_low={self.frontier_low}, frontier_high="
                             f"{self.frontier_high}: set 0 <= frontier_low < frontier_high <= 1")
        if not 0 < self.off_frontier <= 1:
            raise ValueError(f"off_frontier={self.off_frontier}: set it in (0, 1] (1 ignores "
                             "the frontier)")
        if not 0 <= self.explore <= 1:
            raise ValueError(f"explore={self.explore}: set it in [0, 1] (a share of problems)")
        if self.prior_attempts <= 0:
            raise ValueError(f"prior_attempts={self.prior_attempts}: set it > 0 (e.g. 2)")


@dataclass
class _Counts:
    attempts: int = 0
    solved: int = 0
    examples: int = 0

    def add(self, solved: bool, examples: int) -> None:
        self.attempts, self.solved, self.examples = (
            self.attempts + 1, self.solved + int(solved), self.examples + examples)


class Curator:
    """Per-problem and per-bucket statistics of one task's training attempts, and what follows
    from them: holes, replay weights, the next problems, and problems generated at the holes."""

    def __init__(self, task: StepTask, config: CurationConfig = CurationConfig(),
                 buckets: Sequence[str] | None = None):
        """`buckets`: those expected even before any attempt (a never-attempted one is a hole
        once others have examples); default: the task's own (`task.buckets`)."""
        self.task, self.config = task, config
        self._order = tuple(getattr(task, "buckets", ()))
        self._expected = tuple(self._order if buckets is None else buckets)
        self._problems: dict[Any, _Counts] = {}
        self._buckets: dict[str, _Counts] = {b: _Counts() for b in self._expected}
        self._total = _Counts()

    # -- recording -------------------------------------------------------------------------------

    def record(self, problem, solved: bool, examples: int) -> None:
        """One search attempt on a training problem: solved or not, and the replay examples it
        produced (trajectory nodes)."""
        if int(examples) != examples or examples < 0:
            raise ValueError(f"examples={examples}: pass the number of replay examples (>= 0)")
        if self.task.is_heldout(problem):
            raise ValueError(f"{problem} is held out: training never attempts held-out problems")
        bucket = self._bucket(problem)
        for counts in (self._problems.setdefault(problem, _Counts()),
                       self._buckets.setdefault(bucket, _Counts()), self._total):
            counts.add(bool(solved), int(examples))

    # -- statistics ------------------------------------------------------------------------------

    def _bucket(self, problem) -> str:
        return getattr(self.task, "bucket", lambda p: "all")(problem)

    def _bucket_order(self, bucket: str) -> int:
        order = ("0 solutions",) + self._order
        return order.index(bucket) if bucket in order else len(order)

    def _global_rate(self) -> float:
        return (self._total.solved + 1) / (self._total.attempts + 2)  # Laplace: 0.5 before data

    def _bucket_rate(self, bucket: str) -> float:
        c, m = self._buckets.get(bucket, _Counts()), self.config.prior_attempts
        return (c.solved + m * self._global_rate()) / (c.attempts + m)  # Beta posterior mean

    def _problem_rate(self, problem, bucket: str) -> float | None:
        c, m = self._problems.get(problem), self.config.prior_attempts
        return None if c is None else (c.solved + m * self._bucket_rate(bucket)) / (c.attempts + m)

    def _on_frontier(self, rate: float) -> bool:
        return self.config.frontier_low < rate < self.config.frontier_high

    def _why_hole(self, bucket: str) -> list[str]:
        c, cfg = self._buckets.get(bucket, _Counts()), self.config
        why = []
        even = self._total.examples / max(len(self._buckets), 1)
        if c.examples < cfg.min_example_share * even:  # never true before any example
            why.append(f"few examples ({c.examples} < {cfg.min_example_share:g} x even share "
                       f"{even:.0f})")
        rate = self._bucket_rate(bucket)
        if c.attempts and rate < cfg.low_solve_rate:
            why.append(f"low solve rate ({rate:.2f} < {cfg.low_solve_rate:g})")
        return why

    def _raw_weight(self, bucket: str) -> float:
        reasons = len(self._why_hole(bucket))
        return min(self.config.hole_weight ** reasons, self.config.max_weight)

    def buckets(self) -> list[str]:
        """Known buckets in display order."""
        return sorted(self._buckets, key=lambda b: (self._bucket_order(b), b))

    def stats(self) -> dict[str, dict]:
        """Per bucket: problems seen, attempts, solved, solve_rate (raw; None before any attempt),
        smoothed_rate, examples, example_share, weight (replay), hole, why, frontier."""
        weights, total = self.replay_weights(), max(self._total.examples, 1)
        seen: dict[str, int] = {}
        for p in self._problems:
            b = self._bucket(p)
            seen[b] = seen.get(b, 0) + 1
        out = {}
        for b in self.buckets():
            c, why = self._buckets[b], self._why_hole(b)
            rate = self._bucket_rate(b)
            out[b] = dict(problems=seen.get(b, 0), attempts=c.attempts, solved=c.solved,
                          solve_rate=c.solved / c.attempts if c.attempts else None,
                          smoothed_rate=rate, examples=c.examples,
                          example_share=c.examples / total, weight=weights[b], hole=bool(why),
                          why="; ".join(why), frontier=bool(c.attempts) and self._on_frontier(rate))
        return out

    def holes(self) -> list[str]:
        """Buckets with few replay examples or a low solve rate."""
        return [b for b in self.buckets() if self._why_hole(b)]

    def replay_weights(self) -> dict[str, float]:
        """Sampling weight per bucket: holes overweighted (capped), normalised so the mean weight
        over the recorded examples is 1 (so the learner's effective step size is unchanged)."""
        raw = {b: self._raw_weight(b) for b in self.buckets()}
        weighted = sum(raw[b] * c.examples for b, c in self._buckets.items())
        scale = self._total.examples / weighted if weighted else 1.0
        return {b: w * scale for b, w in raw.items()}

    def example_weights(self, buckets: Sequence[str]) -> np.ndarray:
        """Sampling probability of each replay example given its bucket: [N], sums to 1 (a bucket
        never recorded counts as one without examples)."""
        if len(buckets) == 0:
            return np.zeros(0)
        w = np.array([self._raw_weight(b) for b in buckets], dtype=np.float64)  # [N]
        return w / w.sum()

    # -- steering --------------------------------------------------------------------------------

    def choose_problems(self, pool: Sequence, n: int,
                        rng: np.random.Generator) -> list:
        """`n` distinct problems from a training pool for the next iteration: an `explore` share
        uniformly, the rest by priority (bucket weight, times `off_frontier` for a seen problem
        off the frontier), without replacement via Gumbel-top-k. Refuses held-out problems."""
        pool = list(pool)
        heldout = next((p for p in pool if self.task.is_heldout(p)), None)
        if heldout is not None:
            raise ValueError(f"the pool holds held-out problem {heldout}: pass the train split, "
                             "training never sees held-out problems")
        if not 0 <= n <= len(pool):
            raise ValueError(f"n={n}: choose between 0 and the pool size {len(pool)}")
        n_explore = round(self.config.explore * n)
        explore = rng.choice(len(pool), size=n_explore, replace=False)
        rest = np.setdiff1d(np.arange(len(pool)), explore)  # [P - n_explore], sorted
        weight: dict[str, float] = {}  # bucket -> raw weight, computed once per bucket
        priority = np.array([self._priority(pool[i], weight) for i in rest])
        keys = np.log(priority) + rng.gumbel(size=len(rest))  # Gumbel-top-k = weighted sampling
        focus = rest[np.argsort(-keys, kind="stable")[:n - n_explore]]  # without replacement
        return [pool[i] for i in np.concatenate([explore, focus])]

    def _priority(self, problem, weight: dict[str, float]) -> float:
        bucket = self._bucket(problem)
        if bucket not in weight:
            weight[bucket] = self._raw_weight(bucket)
        rate = self._problem_rate(problem, bucket)
        near = rate is None or self._on_frontier(rate)  # unseen problems count as frontier
        return weight[bucket] * (1.0 if near else self.config.off_frontier)

    def target_buckets(self) -> list[str]:
        """Buckets worth more data: holes, then frontier buckets."""
        stats = self.stats()
        holes = [b for b, s in stats.items() if s["hole"]]
        return holes + [b for b, s in stats.items() if s["frontier"] and b not in holes]

    def generate_for_holes(self, n: int, seed: int = 0) -> list:
        """`n` new training problems aimed at the hole and frontier buckets, by the task's own
        generator (`task.generate_for_buckets`); none when the task cannot generate."""
        generate = getattr(self.task, "generate_for_buckets", None)
        return list(generate(self.target_buckets(), n, seed)) if generate else []

    # -- reporting and resuming ------------------------------------------------------------------

    def summary(self) -> dict:
        """A flat dict for metrics.jsonl: counts, and solve rate / example share / weight per
        bucket (solve rate only once a bucket was attempted)."""
        stats = self.stats()
        frontier = sum(1 for p in self._problems
                       if self._on_frontier(self._problem_rate(p, self._bucket(p))))
        row = {"curation_holes": sum(s["hole"] for s in stats.values()),
               "curation_hole_buckets": ",".join(b for b, s in stats.items() if s["hole"]),
               "curation_frontier": frontier, "curation_problems_seen": len(self._problems),
               "curation_attempts": self._total.attempts}
        for b, s in stats.items():
            if s["solve_rate"] is not None:
                row[f"solve_rate[{b}]"] = round(s["solve_rate"], 4)
            row[f"example_share[{b}]"] = round(s["example_share"], 4)
            row[f"weight[{b}]"] = round(s["weight"], 4)
        return row

    def state_dict(self) -> dict:
        """JSON-serialisable: task, config, expected buckets and per-problem counts."""
        return {"task": self.task.name, "config": asdict(self.config),
                "buckets": list(self._expected),
                "problems": [[self.task.problem_to_json(p), c.attempts, c.solved, c.examples]
                             for p, c in self._problems.items()]}

    @classmethod
    def from_state_dict(cls, state: dict, task: StepTask | None = None) -> Curator:
        """The curator `state_dict` was taken from (bucket counts are rebuilt from problems);
        `task` defaults to the registered task of the state's name."""
        if task is None:
            from lmzero.tasks import load_task
            task = load_task(state["task"])
        cur = cls(task, CurationConfig(**state["config"]), state["buckets"])
        for entry in state["problems"]:
            if len(entry) == 5:  # saved before problems were task JSON: numbers, target, ...
                entry = [{"numbers": entry[0], "target": entry[1]}, *entry[2:]]
            row, attempts, solved, examples = entry
            p = task.problem_from_json(row)
            b = cur._bucket(p)
            for c in (cur._problems.setdefault(p, _Counts()),
                      cur._buckets.setdefault(b, _Counts()), cur._total):
                c.attempts, c.solved, c.examples = (
                    c.attempts + attempts, c.solved + solved, c.examples + examples)
        return cur

    def plot(self, history: Sequence[dict], path: str | Path) -> None:
        """Per-bucket solve rate and example share over iterations, from `summary()` rows (x is a
        row's "iteration" when present, else its index)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, prefix in zip(axes, ("solve_rate", "example_share")):
            keys = sorted({k for r in history for k in r if k.startswith(prefix + "[")},
                          key=lambda k: (self._bucket_order(k[len(prefix) + 1:-1]), k))
            for k in keys:
                points = [(r.get("iteration", i), r[k]) for i, r in enumerate(history) if k in r]
                ax.plot(*zip(*points), marker="o", label=k[len(prefix) + 1:-1])
            ax.set_xlabel("iteration")
            ax.set_ylabel(prefix.replace("_", " "))
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=8)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
