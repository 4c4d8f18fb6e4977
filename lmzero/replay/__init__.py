"""Replay: append-only on-disk shards of training positions, and a sliding-window sampler."""

from lmzero.replay.buffer import ReplayBuffer

__all__ = ["ReplayBuffer"]
