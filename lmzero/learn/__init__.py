"""The learner: distils search results (policy targets, outcomes) back into the network."""

from lmzero.learn.learner import Learner, LearnerConfig

__all__ = ["Learner", "LearnerConfig"]
