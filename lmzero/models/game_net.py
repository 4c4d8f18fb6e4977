"""tinylm as the evaluator of a game: states become tokens, move tokens carry the policy.

Token layout: one token per cell (0 empty, 1 the mover's stone, 2 the opponent's), then a token for
the side to move (3 first player, 4 second player); the move to column/cell `a` is token 5 + a,
read from the next-token logits at the last position. A game only has to supply `encode(state)`
(cells from the mover's view) and, for augmentation, `mirror()` (a symmetry of its actions).

A game may instead supply `observation(state)`, a float vector (OpenSpiel games do: their
observation tensor): the network is then an MLP over it (`TinyLMConfig.observation_size`),
"tokens" are those vectors [K, F] and move a is logit a. The game chooses by what it defines.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lmzero.models.tinylm import TinyLM, TinyLMConfig
from lmzero.tasks.base import Game, State

SIDE_TOKEN = 3
MOVE_TOKEN = 5


class GameTokenizer:
    def __init__(self, game: Game):
        self.game = game
        self.observe = getattr(game, "observation", None)
        if self.observe is not None:  # float observations: one input row, logits = moves
            self.observation_size = len(self.observe(game.initial_state()))
            self.num_cells, self.length, self.vocab_size = 0, 1, game.num_actions
            self.move_tokens = np.arange(game.num_actions)
            return
        self.observation_size = 0
        self.num_cells = len(game.encode(game.initial_state()))
        self.length = self.num_cells + 1  # cells + side to move
        self.vocab_size = MOVE_TOKEN + game.num_actions
        self.move_tokens = np.arange(MOVE_TOKEN, MOVE_TOKEN + game.num_actions)

    def tokens(self, states: Sequence[State]) -> np.ndarray:
        """int64 [K, T] token ids of each state (float32 [K, F] observations, if the game
        gives them)."""
        if self.observe is not None:
            return np.stack([self.observe(s) for s in states]).astype(np.float32, copy=False)
        out = np.empty((len(states), self.length), np.int64)
        for i, s in enumerate(states):
            cells = self.game.encode(s)
            out[i, :-1] = np.where(cells == 0, 0, np.where(cells > 0, 1, 2))
            out[i, -1] = SIDE_TOKEN + self.game.to_play(s)
        return out

    def model_config(self, **overrides) -> TinyLMConfig:
        """The network's config: sizes from the game, the rest from `overrides`; the resnet
        trunk gets the game's `board_shape` (rows, columns of its cells or of its observation's
        planes) unless given."""
        if overrides.get("trunk") == "resnet" and "board_rows" not in overrides:
            shape = getattr(self.game, "board_shape", None)
            if shape is None:
                raise ValueError(f"the resnet trunk needs a board: {self.game.name} gives no "
                                 "board_shape (use trunk 'mlp')")
            overrides = dict(overrides, board_rows=shape[0], board_cols=shape[1])
        return TinyLMConfig(vocab_size=self.vocab_size, block_size=self.length,
                            observation_size=self.observation_size, **overrides)

    def mirror_cells(self) -> np.ndarray | None:
        """Cell permutation matching the game's action mirror (boards with a column layout)."""
        mirror = getattr(self.game, "mirror", None)
        if mirror is None or self.observe is not None:
            return None
        moves = mirror()
        width = len(moves)
        rows = self.num_cells // width
        if rows * width != self.num_cells:
            return None
        return (np.arange(self.num_cells).reshape(rows, width)[:, moves]).reshape(-1)


def mirror_tokens(tokens: np.ndarray, mirror_cells: np.ndarray) -> np.ndarray:
    """A copy of int64 [K, T] state tokens with the cells (the first len(mirror_cells)) put
    through `GameTokenizer.mirror_cells()`; the side-to-move token stays."""
    out = tokens.copy()
    out[:, :len(mirror_cells)] = tokens[:, mirror_cells]
    return out


def policy_logits(model: TinyLM, tokens, move_tokens: torch.Tensor) -> tuple:
    """(logits over the game's moves [B, A], value [B]) from the last position, on the model's
    device; `tokens` [B, T] (or observations [B, F]), an array or a tensor on any device."""
    logits, value = model(torch.as_tensor(tokens, device=model.device))
    return logits[:, -1, move_tokens.to(model.device)], value


class NetworkEvaluator:
    """Priors and values from the network, one forward pass for all pending leaves.

    `mirror_average` also evaluates each state's left-right mirror and averages the two
    (logits mapped back through the action mirror): the rules answer both alike, so the average
    cancels part of the network's error, at twice the forward cost (AlphaGo's evaluation over
    board symmetries). Games without a cell mirror refuse it."""

    def __init__(self, game: Game, model: TinyLM, tokenizer: GameTokenizer | None = None,
                 mirror_average: bool = False):
        self.game = game
        self.model = model
        self.tokenizer = tokenizer or GameTokenizer(game)
        self.move_tokens = torch.as_tensor(self.tokenizer.move_tokens)
        self.positions = 0  # states evaluated, for throughput figures
        self.mirror_cells = self.mirror_moves = None
        if mirror_average:
            self.mirror_cells = self.tokenizer.mirror_cells()
            if self.mirror_cells is None:
                raise ValueError(f"{game.name} has no left-right mirror of its cells to "
                                 "average over")
            self.mirror_moves = torch.as_tensor(game.mirror())

    @torch.inference_mode()
    def evaluate(self, states):
        self.model.eval()
        tokens = self.tokenizer.tokens(states)
        if self.mirror_cells is None:
            logits, values = policy_logits(self.model, tokens, self.move_tokens)
        else:
            logits, values = self._mirror_averaged(tokens)
        logits, values = logits.float().cpu(), values.float().cpu()
        legal = torch.as_tensor(np.stack([self.game.legal_mask(s) for s in states]))
        priors = torch.softmax(logits.masked_fill(~legal, float("-inf")), dim=-1)
        self.positions += len(states)
        return priors.nan_to_num(0.0).numpy(), values.numpy()

    def _mirror_averaged(self, tokens: np.ndarray) -> tuple:
        """(logits [K, A], values [K]) averaged over the states and their mirrors, one batch."""
        both = np.concatenate([tokens, mirror_tokens(tokens, self.mirror_cells)])
        logits, values = policy_logits(self.model, both, self.move_tokens)
        k = len(tokens)
        return ((logits[:k] + logits[k:][:, self.mirror_moves.to(logits.device)]) / 2,
                (values[:k] + values[k:]) / 2)
