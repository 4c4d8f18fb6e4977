"""Learners: distil search results back into the network (games: policy CE to visit counts +
value MSE; text: visit-weighted step likelihood + value MSE; world-model pretraining)."""

from lmzero.learn.learner import Learner, LearnerConfig
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig

__all__ = ["Learner", "LearnerConfig", "StepLearner", "StepLearnerConfig"]
