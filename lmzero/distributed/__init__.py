"""Scale-out on Ray: search actors, one replay owner, the driver scheduling units of work.

The loops (`loop.train`, `selfimprove.improve`, `eval.reasoning`) run in one process by
default and need no Ray. Given a `ScaleConfig` with workers, they hand their search to
`Workers` instead: each unit (a batch of games or problems with an id) runs on one of N actors
(`actor.SearchActor`, each with its own model copy, weights pulled by version from the object
store); results are staged by the replay owner (`owner.ReplayOwner`) under their unit id and
committed as the iteration's shard once every unit is in, so a unit redone after an actor died
enters replay exactly once. The learner and the run directory stay with the driver.
"""

from lmzero.distributed.config import ScaleConfig, ScaleError

__all__ = ["ScaleConfig", "ScaleError"]
