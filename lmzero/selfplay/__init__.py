"""Self-play actors: many games searched together, emitting training positions."""

from lmzero.selfplay.actor import GameRecord, SelfPlayConfig, play_games

__all__ = ["GameRecord", "SelfPlayConfig", "play_games"]
