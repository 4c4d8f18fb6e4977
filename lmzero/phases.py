"""Phases of one self-improvement run: from a given iteration on, some settings change.

Why: a recipe can need stages. Countdown's world model slips on the steps it writes, so its
first iterations search sampled steps (the policy learns to write them); later ones score every
legal step and search the unsolved problems again. A shipped checkpoint must come from one
command, so the stages live in the run's config (`ImproveConfig.phases`) and a resume finds
them there.

A phase is `{"from": ITERATION, "set": {"dotted.field": value, ...}}` (`lmzero.settings`),
applied on top of the run's config from that iteration on, after the phases before it. Each
phase is like a new run started from the last one's model, as the stages were when run as
separate commands: the learner's warmup and cosine restart over the phase's own learner steps,
and its replay window holds only the phase's own rounds (rows written under other actions
would fill it). The curator and the optimizer's moments carry on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lmzero.settings import with_settings

FIXED = ("task", "iterations", "phases", "pretrain", "from_scratch", "init", "model",
         "hf_learner", "hf_model", "train_problems", "replay_window", "seed", "threads")
"""Settings that make the run what it is (its model, data, length, seed): no phase changes
them."""


def check_phases(config: Any) -> None:
    """ValueError naming the first phase that is malformed, out of order or sets a fixed or
    unknown field (or a value its field refuses)."""
    previous = 0
    for n, phase in enumerate(config.phases):
        where = f"phases[{n}]"
        if not isinstance(phase, dict) or set(phase) != {"from", "set"}:
            raise ValueError(f"{where}: expected {{\"from\": ITERATION, \"set\": {{FIELD: "
                             f"VALUE}}}}, got {phase!r}")
        start, settings = phase["from"], phase["set"]
        if isinstance(start, bool) or not isinstance(start, int) or start <= previous:
            raise ValueError(f"{where}: \"from\" must be an iteration after {previous} "
                             f"(phases in order), got {start!r}")
        if not isinstance(settings, dict) or not settings:
            raise ValueError(f"{where}: \"set\" must map at least one FIELD to its value")
        fixed = [path for path in settings if path.split(".")[0] in FIXED]
        if fixed:
            raise ValueError(f"{where}: {fixed[0]} is fixed for the whole run "
                             f"(a phase may not set {', '.join(FIXED)})")
        previous = start
    for n in range(len(config.phases)):
        try:
            config_at(config, config.phases[n]["from"])
        except ValueError as exc:
            raise ValueError(f"phases[{n}]: {exc}") from None


def phase_index(config: Any, iteration: int) -> int:
    """Which phase `iteration` is in: 0 before the first listed phase, n + 1 in phases[n]."""
    return sum(phase["from"] <= iteration for phase in config.phases)


def phase_bounds(config: Any, iteration: int) -> tuple[int, int]:
    """The first iteration of `iteration`'s phase and the first after it (or the run's end)."""
    starts = phase_starts(config) + [config.iterations]
    k = phase_index(config, iteration)
    return starts[k], max(min(starts[k + 1], config.iterations), starts[k] + 1)


def phase_starts(config: Any) -> list[int]:
    """The first iteration of every phase, the run's own first (0) included."""
    return [0] + [phase["from"] for phase in config.phases]


def config_at(config: Any, iteration: int) -> Any:
    """The config iteration `iteration` runs with: every phase begun by then applied, in order
    (phases cleared: the result describes one phase)."""
    settings: dict = {}
    for phase in config.phases[:phase_index(config, iteration)]:
        settings.update(phase["set"])
    return with_settings(replace(config, phases=[]), settings)
