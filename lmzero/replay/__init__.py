"""Replay: append-only on-disk shards of training examples, a sliding-window sampler, and
curation (holes in the data, replay weights, problems aimed at the frontier)."""

from lmzero.replay.buffer import TEXT_FIELDS, ReplayBuffer
from lmzero.replay.curation import CurationConfig, Curator

__all__ = ["CurationConfig", "Curator", "ReplayBuffer", "TEXT_FIELDS"]
