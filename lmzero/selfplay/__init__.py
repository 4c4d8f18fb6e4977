"""Actors: many games (or problems) searched together, emitting training examples."""

from lmzero.selfplay.actor import GameRecord, SelfPlayConfig, play_games
from lmzero.selfplay.step_actor import StepActorConfig, attempt_problems

__all__ = ["GameRecord", "SelfPlayConfig", "StepActorConfig", "attempt_problems", "play_games"]
