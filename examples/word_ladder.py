"""Word ladders as an lmzero task plugin: nothing in the library knows this task.

Turn a start word into a goal word by changing one letter at a time; every word on the way must
be a word of the list below, and no word may repeat. A step is the next word; the state is the
ladder so far. The verifier is exact: a step that is not a word of the list, changes more or less
than one letter, or revisits a word is a dead end (reward 0); reaching the goal is reward 1.

    lmzero eval --task examples/word_ladder.py:TASK --model hf:SmolLM2.gguf --method mcts \\
        --budget 16 --problems ladders.jsonl --json
    lmzero solve --task examples/word_ladder.py:TASK '{"start": "cold", "goal": "warm"}' \\
        --model hf:SmolLM2.gguf

Problem files are JSONL lines `{"start": "cold", "goal": "warm"}`. Held out: a pair is held out
when `int(sha256("START GOAL").hexdigest(), 16) % 4 == 0`. The generator draws pairs whose
shortest ladder has 2 to 5 steps (breadth-first search over the list); curation buckets are that
shortest length.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lmzero.tasks import TextTask

WORDS = frozenset("""
bake bale ball band bane bank bare barn base bash bass bast bath bats bead beak beam bean
bear beat beds beef been beer bees bell belt bend best bets bike bile bill bind bins bird bite
bits blow boat bold bolt bond bone book boot bore born boss both bout bowl buck bull bump burn
bust busy cake call calm came camp cane cape card care cart case cash cast cats cave cell cold
cole colt comb come cone cook cool cope cord core corn cost cove cows dame damp dare dark darn
dart date dawn deal dear deer dell dent desk dial dice dime dine ding dirt dish dive dock dole
doll dome done door dose dove down dusk dust fame fare farm fast fate fear feat feed feel fell
felt fend file fill film find fine fire firm fish fist five flat fold folk fond font food fool
foot ford fore fork form fort foul four fowl fuel full fume fund gale game gate gave gaze gold
golf gone good gown hale hall halt hand hard hare harm hate have head heal heap hear heat heel
held hell helm help herd here hero hide hill hind hint hire hold hole home hood hook hope horn
hose host hour howl hull hunt hurt lace lake lame lamp land lane lard last late lead leaf lean
leap lend lens lest lice lick life lift like lime limp line link lint lion list live load loaf
loan lock lode loft lone long look loom loop lord lore lose loss lost loud love mail main make
male mall malt mane many mare mark mask mass mast mate meal mean meat meet melt mend mere mesh
mice mild mile milk mill mind mine mint mist mode mold mole monk mood moon more most move much
nail name near neat neck need nest nice nine node none noon nose note pace pack page paid pail
pain pair pale palm pane park part pass past pate path peak peal pear peat peel pile pill pine
pink pint pipe pole poll pond pony pool poor pore pork port pose post pour race rack rage rail
rain rake ramp rang rank rare rash rate read real rear rend rent rest rice rich ride rile rind
ring rink ripe rise risk road roam roar robe rock rode role roll roof room root rope rose rule
sack safe sage said sail sake sale salt same sand sane sang save seal seam sear seat seed seek
seem seen self sell send sent shed ship shoe shop shot show sick side silk sill sing sink site
size slow soak soap sock soft soil sold sole some song soon sore sort soul sour tail take tale
talk tall tame tank tape task teal team tear tell tend tent term test tide tile till time tine
tire toad toil told toll tone took tool tore torn tour town tree vale vane vase vast veal vent
vest vile vine vole vote wade wage wail wait wake walk wall wand want ward ware warm warn wart
wash wave weak weal wear weed week well went were west wide wife wild will wind wine wing wink
wire wise wish wolf wood wool word wore work worm worn yard yarn year yell
""".split())
"""The dictionary: common four-letter words (steps outside it are dead ends)."""
SHORTEST = (2, 3, 4, 5)
"""Generated problems' shortest ladder lengths (the curation buckets)."""


def one_letter_apart(a: str, b: str) -> bool:
    """>>> one_letter_apart("cold", "cord"), one_letter_apart("cold", "card")
    (True, False)
    """
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1


@lru_cache(maxsize=None)
def neighbours(word: str) -> tuple[str, ...]:
    return tuple(sorted(w for w in WORDS if one_letter_apart(word, w)))


@lru_cache(maxsize=4096)
def shortest_ladder(start: str, goal: str) -> tuple[str, ...] | None:
    """The words after `start` on a shortest ladder to `goal` (breadth-first), or None."""
    parent, queue = {start: None}, deque([start])
    while queue:
        word = queue.popleft()
        if word == goal:
            path = []
            while word != start:
                path.append(word)
                word = parent[word]
            return tuple(reversed(path))
        for nxt in neighbours(word):
            if nxt not in parent:
                parent[nxt] = word
                queue.append(nxt)
    return None


@dataclass(frozen=True)
class Ladder:
    start: str
    goal: str


@dataclass(frozen=True)
class LadderState:
    problem: Ladder
    words: tuple[str, ...]
    """The ladder so far, the start word first."""
    error: str | None = None


@dataclass(frozen=True)
class WordLadder(TextTask):
    """The task object lmzero loads by `--task examples/word_ladder.py:TASK`."""

    name: str = "word_ladder"
    max_steps: int = 8
    """Words after the start before the branch is cut off."""
    max_step_chars = 12
    characters = "\n abcdefghijklmnopqrstuvwxyz->"
    problem_example = '{"start": "cold", "goal": "warm"}'
    buckets = tuple(f"{n} steps" for n in SHORTEST)
    judge_question = "\nCan this ladder still reach the goal word? Answer yes or no.\nAnswer:"
    instruction = ("Word ladder: turn the first word into the word after the arrow by changing "
                   "exactly one letter per line. Every line must be a common English word that "
                   "has not been used yet. Write one word per line.\n\n"
                   "cold -> warm\ncord\ncard\nward\nwarm\n\nbake -> lane\nlake\nlane")

    # -- problems -------------------------------------------------------------------------

    def problem_from_json(self, row: dict) -> Ladder:
        start, goal = row.get("start"), row.get("goal")
        for key, word in (("start", start), ("goal", goal)):
            if not isinstance(word, str) or word not in WORDS:
                raise ValueError(f"{key} must be a four-letter word of the list, got {word!r}")
        if start == goal:
            raise ValueError(f"start and goal are the same word {start!r}")
        return Ladder(start, goal)

    def problem_to_json(self, problem: Ladder) -> dict:
        return {"start": problem.start, "goal": problem.goal}

    def describe(self, problem: Ladder) -> str:
        return f"{problem.start} -> {problem.goal}"

    def is_heldout(self, problem: Ladder) -> bool:
        text = f"{problem.start} {problem.goal}"
        return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 4 == 0

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list[Ladder]:
        """`n` distinct solvable pairs of a split (shortest ladder 2-5 steps), seeded."""
        rng, words, found = np.random.default_rng(seed), sorted(WORDS), {}
        for _ in range(200 * n):
            if len(found) == n:
                break
            start, goal = (words[i] for i in rng.choice(len(words), 2, replace=False))
            path = shortest_ladder(start, goal)
            problem = Ladder(start, goal)
            wanted = split == "all" or self.is_heldout(problem) == (split == "heldout")
            if path and len(path) in SHORTEST and wanted:
                found[problem] = None
        return list(found)

    def bucket(self, problem: Ladder) -> str:
        path = shortest_ladder(problem.start, problem.goal)
        return f"{len(path)} steps" if path else "unsolvable"

    def world_trajectory(self, problem: Ladder, rng) -> list[str]:
        return list(shortest_ladder(problem.start, problem.goal) or ())

    # -- states ---------------------------------------------------------------------------

    def initial_state(self, problem: Ladder) -> LadderState:
        return LadderState(problem, (problem.start,))

    def apply(self, state: LadderState, step: str) -> LadderState:
        word, last = step.strip().lower(), state.words[-1]
        error = None
        if word not in WORDS:
            error = f"{word[:20]!r} is not a word of the list"
        elif not one_letter_apart(last, word):
            error = f"{last} -> {word} changes {sum(a != b for a, b in zip(last, word))} letters"
        elif word in state.words:
            error = f"{word} is already on the ladder"
        elif len(state.words) >= self.max_steps + 1:
            error = f"longer than {self.max_steps} steps"
        return LadderState(state.problem, state.words + (word[:20],), error)

    def is_terminal(self, state: LadderState) -> bool:
        return state.error is not None or state.words[-1] == state.problem.goal

    def reward(self, state: LadderState) -> float:
        return 1.0 if state.error is None and state.words[-1] == state.problem.goal else 0.0

    def prompt(self, state: LadderState) -> str:
        head = f"{state.problem.start} -> {state.problem.goal}\n"
        return head + "".join(w + "\n" for w in state.words[1:])

    def key(self, state: LadderState):
        return state.problem, state.words, state.error is not None

    def answer(self, state: LadderState) -> str | None:
        return " -> ".join(state.words) if self.reward(state) == 1.0 else None


TASK = WordLadder()
