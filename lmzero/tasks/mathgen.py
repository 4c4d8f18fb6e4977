"""A procedural generator of multi-step arithmetic word problems: the embedded model's math world.

Each problem chains 2 to 6 operations (`OPS`) in one of seven templates (`TEMPLATES`), and every
template can make every count (ages rarely six: six relations seldom fit in 200 characters):

- collection: has N items (or N boxes of M), buys/finds N more, gives away N, doubles or has K
  times as many, K packs of M more, gives M to each of K friends, keeps one of K equal piles;
- saving: has $N and/or saves $S a week for W weeks, spends $N, is given $N, earns $S a day for
  K days, buys K things at $P each, splits the money into K jars (last);
- baking: a baker/farmer/chef makes T trays of M, sells N, makes N more, sells K bags of M, makes
  K more trays of M, packs the rest into K boxes (last);
- work: a machine makes R items an hour (or two people make A and B an hour), works H hours (a
  day for D days), N are broken, N more are made, packed in boxes of K (last);
- ages: A is N years old, B is N years older/younger than A, K times or half as old, how old in N
  years, N years ago, or the sum of the last two;
- travel: speed times hours over one to three legs, the same trip back, the distance left of a
  whole trip, the fuel used at 1 liter every K (last);
- shopping: one to three kinds of items at $P each, a coupon, the cost split among K friends,
  the change from the smallest bill that covers it.

Names, items and verbs vary within a template so the model must read, with a modest vocabulary
(`mathword.CHARACTERS`). Amounts are drawn up to one of three ranges (`RANGES`: 20, 60, 200).
The arithmetic stays easy: additions and subtractions of numbers below 1,000, multiplications
with one factor of at most 12, exact divisions by 2-12, every result a whole number from 1 to
9,999. The gold solution writes one operation per line, `a op b = c`, operands in the order the
question gives them where the operation allows (a running total first: `17 - 3 = 14`, the bill
before the cost: `50 - 26 = 24`), then `Answer: N`. Questions stay within 200 characters and a
whole trajectory (question, steps, newlines) within 300. Draws that break a rule are redrawn;
the same seed gives the same problems.
"""

from __future__ import annotations

import random
from typing import Callable

from lmzero.tasks.base import split_problems
from lmzero.tasks.mathword import OPS, Problem, is_heldout

RANGES = (20, 60, 200)
"""Largest freely drawn amount of a problem (factors and divisors stay 2-12)."""
MAX_QUESTION_CHARS = 200
"""Longest generated question."""
MAX_TRAJECTORY_CHARS = 300
"""Longest generated question + steps, newlines included (tinylm's block holds 320)."""


class _Reject(Exception):
    """A draw that breaks a rule (inexact division, a range, a length): draw another."""


_PEOPLE = (("Ann", "she"), ("Ben", "he"), ("Mia", "she"), ("Sam", "he"), ("Eva", "she"),
           ("Leo", "he"), ("Zoe", "she"), ("Max", "he"), ("Ivy", "she"), ("Tom", "he"),
           ("Amy", "she"), ("Dan", "he"), ("Kim", "she"), ("Raj", "he"))
_OBJ = {"she": "her", "he": "him"}
_POS = {"she": "her", "he": "his"}


class _Draft:
    """One problem being written: sentences, gold steps, and the rules every step obeys."""

    def __init__(self, rng: random.Random, top: int):
        self.rng, self.top = rng, top
        self.sentences: list[str] = []
        self.steps: list[str] = []
        self.ask: str | None = None  # a question the last clause asks instead of the default

    def amount(self, lo: int = 2, hi: int | None = None) -> int:
        """A freely drawn amount: lo..min(hi, top)."""
        return self.rng.randint(lo, max(lo, min(self.top if hi is None else hi, self.top)))

    def pick(self, options):
        return self.rng.choice(options)

    def say(self, text: str) -> None:
        self.sentences.append(text[0].upper() + text[1:])

    def op(self, a: int, sym: str, b: int) -> int:
        """Write the step `a sym b = c` and return c; _Reject if it breaks the rules."""
        if sym == "+":
            c, ok = a + b, a < 1000 and b < 1000
        elif sym == "-":
            c, ok = a - b, a < 1000 and b < 1000
        elif sym == "*":
            c, ok = a * b, min(a, b) <= 12 and max(a, b) < 1000
        else:
            c, ok = (a // b, 2 <= b <= 12 and a % b == 0)
        if not ok or not 0 < c < 10_000:
            raise _Reject
        self.steps.append(f"{a} {sym} {b} = {c}")
        return c

    def divisor(self, value: int) -> int:
        """A divisor 2-12 of `value`; _Reject if it has none."""
        options = [k for k in range(2, 13) if value % k == 0]
        if not options:
            raise _Reject
        return self.pick(options)

    def person(self, avoid=()) -> tuple[str, str]:
        return self.pick([p for p in _PEOPLE if p[0] not in avoid])

    def clauses(self, value: int, ops: int, pool) -> int:
        """Append clauses from `pool` ((cost, last_only, clause(draft, value) -> value)) until
        the draft has `ops` steps."""
        while len(self.steps) < ops:
            left = ops - len(self.steps)
            options = [(c, f) for c, last, f in pool if c <= left and (not last or c == left)]
            if not options:
                raise _Reject
            value = self.pick(options)[1](self, value)
        return value


def _collection(d: _Draft, ops: int) -> str:
    who, he = d.person()
    items = d.pick(("apples", "marbles", "stickers", "cards", "shells", "stamps", "beads"))
    if d.rng.random() < 0.5:
        value = d.amount(5)
        d.say(f"{who} has {value} {items}.")
    else:
        boxes, each = d.rng.randint(2, 9), d.amount(2, 30)
        d.say(f"{who} has {boxes} {d.pick(('boxes', 'bags', 'packs'))} of {each} {items}.")
        value = d.op(boxes, "*", each)

    def more(d, v):
        n = d.amount()
        d.say(f"{he} {d.pick(('buys', 'finds', 'gets', 'wins'))} {n} more.")
        return d.op(v, "+", n)

    def away(d, v):
        n = d.amount(1, v - 1)
        d.say(f"{he} {d.pick(('gives away', 'loses', 'sells', 'trades away'))} {n}.")
        return d.op(v, "-", n)

    def times(d, v):
        k = d.rng.randint(2, 5)
        d.say(f"{he} doubles them." if k == 2 else f"then {he} has {k} times as many.")
        return d.op(v, "*", k)

    def piles(d, v):
        k = d.divisor(v)
        d.say(f"{he} puts them into {k} equal piles and keeps one pile.")
        return d.op(v, "/", k)

    def packs(d, v):
        k, m = d.rng.randint(2, 9), d.amount(2, 12)
        d.say(f"{he} buys {k} packs of {m} more.")
        return d.op(v, "+", d.op(k, "*", m))

    def each(d, v):
        m, k = d.amount(2, 12), d.rng.randint(2, 6)
        d.say(f"{he} gives {m} to each of {k} friends.")
        return d.op(v, "-", d.op(m, "*", k))

    d.clauses(value, ops, [(1, False, more), (1, False, away), (1, False, times),
                           (1, False, piles), (2, False, packs), (2, False, each)])
    return f"How many {items} does {who} have now?"


def _saving(d: _Draft, ops: int) -> str:
    who, he = d.person()
    start, weekly, weeks = d.amount(5), d.amount(2, 30), d.rng.randint(2, 9)
    opening = d.rng.randrange(3) if ops > 2 else d.rng.randrange(2)
    if opening == 0:
        d.say(f"{who} has ${start}.")
        value = start
    elif opening == 1:
        d.say(f"{who} saves ${weekly} a week for {weeks} weeks.")
        value = d.op(weekly, "*", weeks)
    else:
        d.say(f"{who} has ${start} and saves ${weekly} a week for {weeks} weeks.")
        value = d.op(start, "+", d.op(weekly, "*", weeks))

    def spend(d, v):
        n = d.amount(1, v - 1)
        d.say(f"{he} spends ${n} on a {d.pick(('game', 'book', 'toy', 'ball', 'hat', 'kite'))}.")
        return d.op(v, "-", n)

    def gift(d, v):
        n = d.amount()
        d.say(d.pick((f"{he} earns ${n} more.",
                      f"{_POS[he]} {d.pick(('aunt', 'grandma', 'uncle'))} gives {_OBJ[he]} ${n}.")))
        return d.op(v, "+", n)

    def job(d, v):
        s, k = d.amount(2, 20), d.rng.randint(2, 7)
        d.say(f"{he} earns ${s} a day for {k} days.")
        return d.op(v, "+", d.op(s, "*", k))

    def buy(d, v):
        k, p = d.rng.randint(2, 6), d.amount(2, 15)
        d.say(f"{he} buys {k} {d.pick(('books', 'toys', 'pens', 'cups'))} at ${p} each.")
        return d.op(v, "-", d.op(k, "*", p))

    def jars(d, v):
        k = d.divisor(v)
        d.say(f"{he} splits it equally into {k} jars.")
        d.ask = "How much money is in each jar?"
        return d.op(v, "/", k)

    d.clauses(value, ops, [(1, False, spend), (1, False, gift), (2, False, job),
                           (2, False, buy), (1, True, jars)])
    return f"How much money does {who} have now?"


def _baking(d: _Draft, ops: int) -> str:
    maker, verb, box, items = d.pick((
        ("a baker", "bakes", "trays", ("cookies", "muffins", "buns")),
        ("a farmer", "picks", "baskets", ("apples", "pears", "plums")),
        ("a chef", "makes", "plates", ("dumplings", "tacos"))))
    items, he = d.pick(items), d.pick(("he", "she"))
    trays, each = d.rng.randint(2, 9), d.amount(4, 40)
    d.say(f"{maker} {verb} {trays} {box} of {each} {items}.")
    value = d.op(trays, "*", each)

    def sell(d, v):
        n = d.amount(1, v - 1)
        d.say(d.pick((f"{he} sells {n}.", f"{he} gives away {n}.", f"{n} of them are eaten.")))
        return d.op(v, "-", n)

    def more(d, v):
        n = d.amount()
        d.say(f"{he} {verb} {n} more.")
        return d.op(v, "+", n)

    def bags(d, v):
        k, m = d.rng.randint(2, 6), d.amount(2, 12)
        d.say(f"{he} sells {k} bags of {m}.")
        return d.op(v, "-", d.op(k, "*", m))

    def trays_more(d, v):
        k, m = d.rng.randint(2, 6), d.amount(4, 40)
        d.say(f"{he} {verb} {k} more {box} of {m}.")
        return d.op(v, "+", d.op(k, "*", m))

    def pack(d, v):
        k = d.divisor(v)
        d.say(f"{he} packs the rest equally into {k} boxes.")
        d.ask = f"How many {items} are in each box?"
        return d.op(v, "/", k)

    d.clauses(value, ops, [(1, False, sell), (1, False, more), (2, False, bags),
                           (2, False, trays_more), (1, True, pack)])
    return f"How many {items} does {he} have now?"


def _work(d: _Draft, ops: int) -> str:
    machine, items = d.pick((("machine", "toys"), ("printer", "pages"), ("robot", "cups"),
                             ("factory", "shirts")))
    pair = ops >= 3 and d.rng.random() < 0.4
    if pair:
        (a_name, _), (b_name, _) = d.person(), d.person()
        if a_name == b_name:
            raise _Reject
        a, b = d.amount(2, 30), d.amount(2, 30)
        d.say(f"{a_name} makes {a} {items} an hour and {b_name} makes {b}.")
        value, it, works = d.op(a, "+", b), "they", "work"
    else:
        value, it, works = d.amount(2, 90), "it", "works"
        d.say(f"a {machine} makes {value} {items} an hour.")
    h = d.rng.randint(2, 12)
    if ops - len(d.steps) >= 2 and d.rng.random() < 0.5:
        days = d.rng.randint(2, 7)
        d.say(f"{it} {works} {h} hours a day for {days} days.")
        value = d.op(d.op(value, "*", h), "*", days)
    else:
        d.say(f"{it} {works} {h} hours.")
        value = d.op(value, "*", h)

    def broken(d, v):
        n = d.amount(1, min(v - 1, 99))
        d.say(f"{n} of them are {d.pick(('broken', 'sold', 'lost'))}.")
        return d.op(v, "-", n)

    def extra(d, v):
        n = d.amount()
        d.say(f"{n} more {items} are made later.")
        return d.op(v, "+", n)

    def boxes(d, v):
        k = d.divisor(v)
        d.say(f"they are packed in boxes of {k}.")
        d.ask = "How many boxes are filled?"
        return d.op(v, "/", k)

    d.clauses(value, ops, [(1, False, broken), (1, False, extra), (1, True, boxes)])
    return f"How many {items} are there in the end?"


def _ages(d: _Draft, ops: int) -> str:
    asks = d.rng.randrange(4) if ops > 1 else 0  # 0: how old is; 1-3 cost one more step
    people = [d.person()[0]]
    value = d.amount(2, 40)
    d.say(f"{people[0]} is {value} years old.")
    values = [value]
    while len(d.steps) < ops - (asks > 0):
        people.append(d.person(avoid=people)[0])
        kind, v, name, prev = d.rng.randrange(4), values[-1], people[-1], people[-2]
        if kind == 0:
            n = d.rng.randint(2, 30)
            d.say(f"{name} is {n} years older than {prev}.")
            values.append(d.op(v, "+", n))
        elif kind == 1:
            n = d.rng.randint(2, 30)
            d.say(f"{name} is {n} years younger than {prev}.")
            values.append(d.op(v, "-", n))
        elif kind == 2:
            k = d.rng.randint(2, 4)
            d.say(f"{name} is {k} times as old as {prev}.")
            values.append(d.op(v, "*", k))
        else:
            d.say(f"{name} is half as old as {prev}.")
            values.append(d.op(v, "/", 2))
        if values[-1] > 99:
            raise _Reject
    last = people[-1]
    n = d.rng.randint(2, 20)
    if asks == 1:
        d.op(values[-1], "+", n)
        return f"How old will {last} be in {n} years?"
    if asks == 2:
        d.op(values[-1], "-", n)
        return f"How old was {last} {n} years ago?"
    if asks == 3 and len(people) > 1:
        d.op(values[-2], "+", values[-1])
        return f"What is the sum of the ages of {people[-2]} and {last}?"
    if asks == 3:
        raise _Reject
    return f"How old is {last}?"


def _travel(d: _Draft, ops: int) -> str:
    vehicle, verb = d.pick((("a car", "drives"), ("a train", "goes"), ("a bus", "goes"),
                            ("a boat", "sails")))
    unit = d.pick(("miles", "km"))
    plans = [(legs, back, end) for legs in (1, 2, 3) for back in (0, 1) for end in (0, 1, 2)
             if 2 * legs - 1 + back + (end > 0) == ops]
    legs, back, end = d.pick(plans)
    parts, value = [], 0
    for i in range(legs):
        speed, hours = d.amount(5, 90), d.rng.randint(2, 9)
        parts.append(f"{speed} {unit} an hour for {hours} hours")
        leg = d.op(speed, "*", hours)
        value = leg if i == 0 else d.op(value, "+", leg)
    d.say(f"{vehicle} {verb} " + ", then ".join(parts) + ".")
    question = f"How many {unit} does it go?"
    if back:
        d.say("it makes the same trip back.")
        value = d.op(value, "*", 2)
        question = f"How many {unit} does it go in all?"
    if end == 1:
        total = value + d.amount(2)
        d.say(f"the whole trip is {total} {unit}.")
        d.op(total, "-", value)
        question = f"How many {unit} are left?"
    elif end == 2:
        k = d.divisor(value)
        d.say(f"it uses 1 liter of fuel every {k} {unit}.")
        d.op(value, "/", k)
        question = "How many liters of fuel does it use?"
    return question


def _shopping(d: _Draft, ops: int) -> str:
    who, he = d.person()
    plans = [(groups, coupon, split, pay) for groups in (1, 2, 3) for coupon in (0, 1)
             for split in (0, 1) for pay in (0, 1)
             if 2 * groups - 1 + coupon + split + pay == ops]
    groups, coupon, split, pay = d.pick(plans)
    names = d.rng.sample(("pens", "books", "cups", "hats", "toys", "pies", "shirts", "balls"),
                         groups)
    parts, value = [], 0
    for i, item in enumerate(names):
        count, price = d.rng.randint(2, 9), d.amount(2, 40)
        parts.append(f"{count} {item} at ${price} each")
        cost = d.op(count, "*", price)
        value = cost if i == 0 else d.op(value, "+", cost)
    listed = parts[0] if groups == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    d.say(f"{who} buys {listed}.")
    question = f"How much does {who} spend?"
    if coupon:
        c = d.amount(2, min(20, value - 1))
        d.say(f"{he} uses a ${c} coupon.")
        value = d.op(value, "-", c)
        question = f"How much does {who} pay?"
    payer, gets = he, f"does {he} get"
    if split:
        k = d.divisor(value)
        d.say(f"the cost is split equally among {k} friends.")
        value = d.op(value, "/", k)
        payer, gets, question = "each friend", "does each friend get", \
            "How much does each friend pay?"
    if pay:
        bill = next((b for b in (10, 20, 50, 100, 200, 500) if b > value), None)
        if bill is None:
            raise _Reject
        d.say(f"{payer} pays with a ${bill} bill.")
        d.op(bill, "-", value)
        question = f"How much change {gets}?"
    return question


TEMPLATES: dict[str, Callable[[_Draft, int], str]] = {
    "collection": _collection, "saving": _saving, "baking": _baking, "work": _work,
    "ages": _ages, "travel": _travel, "shopping": _shopping}
"""Template name -> writer(draft, operations) returning the question sentence."""


def draw(rng: random.Random, template: str, ops: int, top: int) -> Problem | None:
    """One problem of a template with exactly `ops` operations, or None when the draw breaks a
    rule (the caller draws again)."""
    d = _Draft(rng, top)
    try:
        question = TEMPLATES[template](d, ops)
    except (_Reject, IndexError):  # IndexError: no plan or no person left to pick
        return None
    if len(d.steps) != ops:
        return None
    text = " ".join(d.sentences + [d.ask or question])
    answer = d.steps[-1].rsplit(" ", 1)[1]
    solution = (*d.steps, f"Answer: {answer}")
    if (len(text) > MAX_QUESTION_CHARS
            or len(text) + sum(len(s) + 1 for s in solution) + 1 > MAX_TRAJECTORY_CHARS):
        return None
    return Problem(text, answer, solution=solution, ops=ops)


def generate(n: int, seed: int = 0, split: str = "train",
             ops: tuple[int, ...] = OPS) -> list[Problem]:
    """`n` distinct generated problems of one split, the same ones for the same arguments:
    operation counts uniform over `ops`, templates and ranges uniform.

    >>> p = generate(1, seed=0)[0]
    >>> p.solution[-1] == f"Answer: {p.answer}", len(p.solution) == p.ops + 1, is_heldout(p)
    (True, True, False)
    """
    split_problems([], split, is_heldout)  # validates the split name
    rng = random.Random(seed)
    seen: set[Problem] = set()
    found: list[Problem] = []
    names = list(TEMPLATES)
    for _ in range(20 * n + 100):
        if len(found) == n:
            break
        k = rng.choice(ops)  # the count first, so counts stay uniform though some fail more
        problem = None
        for _ in range(100):
            problem = draw(rng, rng.choice(names), k, rng.choice(RANGES))
            if problem is not None:
                break
        if problem is None or problem in seen:
            continue
        seen.add(problem)
        if split == "all" or is_heldout(problem) == (split == "heldout"):
            found.append(problem)
    if len(found) < n:
        raise RuntimeError(f"generated {len(found)} of {n} problems: the templates cannot make "
                           f"more distinct ones with {ops} operations")
    return found
