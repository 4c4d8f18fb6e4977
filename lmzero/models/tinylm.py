"""tinylm: a small decoder-only transformer with a policy head and a value head.

A state is a token sequence; the policy is the next-token distribution at the last position (for
a game, restricted to the move tokens that are legal), the value a tanh head on the same hidden
state. So "a token can be a move or a word": the games and the language tasks share one model
family, one checkpoint format and one learner. The trunk is a config choice: `transformer`
(nanoGPT-like, causal) or `mlp` (the same token embeddings, flattened), because on two CPU cores a
game is often learned faster by the smaller trunk; the benchmark decides which one ships.
For text, `forward_cached` decodes one token at a time over a KV cache (`KVCache`) that holds
left-padded rows, so many prompts and many samples per prompt decode as one batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F


SIZE_LIMITS = {"vocab_size": (1, 1 << 20), "block_size": (1, 1 << 16), "n_layer": (1, 64),
               "n_head": (1, 4096), "n_embd": (1, 4096), "mlp_width": (1, 1 << 16)}
"""Bounds of the integer fields (inclusive). Beyond them a tiny LM is a typo or a hostile
manifest; a checkpoint's total size is bounded separately (`models.load.MAX_PARAMETERS`)."""


def short_repr(value) -> str:
    """A value for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class TinyLMConfig:
    vocab_size: int = 16
    """Tokens the model reads and writes (cells, side to move, moves or characters)."""
    block_size: int = 48
    """Longest token sequence."""
    n_layer: int = 2
    """Transformer blocks (or hidden layers of the MLP trunk)."""
    n_head: int = 4
    """Attention heads per block."""
    n_embd: int = 64
    """Width of the residual stream."""
    trunk: Literal["transformer", "mlp", "resnet"] = "transformer"
    """`transformer` (causal self-attention), `mlp` (embeddings flattened through an MLP) or
    `resnet` (a board game's cells as planes through residual 3x3 convolutions, AlphaZero's
    trunk: `n_layer` blocks of `n_embd` channels over a `board_rows` x `board_cols` grid)."""
    mlp_width: int = 256
    """Hidden width of the MLP trunk."""
    dropout: float = 0.0
    observation_size: int = 0
    """Float features per state read instead of tokens (a game's observation vector, e.g. an
    OpenSpiel observation tensor): the MLP trunk then takes them as its input layer, the
    resnet trunk as planes (the first whole board_rows x board_cols planes; the features after
    them, such as the side to move, as constant planes); block_size 1. 0 = token input."""
    board_rows: int = 0
    """resnet trunk: rows of the board; the first board_rows * board_cols tokens are its cells,
    row-major, and the tokens after them (the side to move) are added to every cell."""
    board_cols: int = 0
    """resnet trunk: columns of the board."""
    rope: bool = False
    """Rotary position embeddings (RoFormer, Su et al. 2021) instead of learned absolute ones:
    attention then sees relative offsets, which text needs (a step's operands sit a few
    characters back, wherever the line starts). Transformer trunk only."""

    def __post_init__(self):
        """Refuse a config that cannot build a working model, saying which field to fix: a
        checkpoint's manifest builds one before any weight is read, so nothing is trusted."""
        for name, (low, high) in SIZE_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):  # 2.0, "2", True: typos
                raise ValueError(f"{name} must be an integer, got {short_repr(value)}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
        if not isinstance(self.trunk, str) or self.trunk not in TRUNKS:
            raise ValueError(f"trunk must be one of {', '.join(TRUNKS)}, got "
                             f"{short_repr(self.trunk)}")
        self._check_board()
        if not isinstance(self.rope, bool):
            raise ValueError(f"rope must be true or false, got {short_repr(self.rope)}")
        if (not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool)
                or not 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {short_repr(self.dropout)}")
        if (not isinstance(self.observation_size, int) or isinstance(self.observation_size, bool)
                or not 0 <= self.observation_size <= 1 << 20):
            raise ValueError(f"observation_size must be an integer in [0, {1 << 20}], got "
                             f"{short_repr(self.observation_size)}")
        if self.observation_size and self.trunk == "transformer":
            raise ValueError("observation input needs the MLP or resnet trunk")
        if self.rope and self.trunk != "transformer":
            raise ValueError("rope needs the transformer trunk: set rope=False for trunk='mlp'")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.rope and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"rope rotates pairs: the head width n_embd / n_head "
                             f"({self.n_embd // self.n_head}) must be even")

    def _check_board(self) -> None:
        for name in ("board_rows", "board_cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 256:
                raise ValueError(f"{name} must be an integer in [0, 256], got "
                                 f"{short_repr(value)}")
        if self.trunk != "resnet":
            return
        cells = self.board_rows * self.board_cols
        room, limit = ((self.observation_size, "observation_size") if self.observation_size
                       else (self.block_size - 1, "block_size - 1"))
        if not 0 < cells <= room:
            raise ValueError(f"the resnet trunk needs a board: board_rows x board_cols cells "
                             f"({self.board_rows} x {self.board_cols}) must be at least 1 and "
                             f"at most {limit} ({room})")

    def to_dict(self) -> dict:
        return asdict(self)


TRUNKS = ("transformer", "mlp", "resnet")


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to `capacity` slots
    and filled in place, so decoding one token costs one token's forward (no recomputation, no
    copy of the past). Rows may be left-padded to a common length: row b's text starts at slot
    `pad[b]`; padding is never attended to, and positions count from each row's first token, so
    a row's logits do not depend on how much padding the batch gave it.

    `branch(k, capacity)` continues each row k times: the branches attend to this cache's keys in
    place and to their own (shared-prefix attention, as in Hydragen, Juravsky et al. 2024), so k
    samples of one prompt cost the prompt once, in compute and in memory.
    """

    def __init__(self, cfg: TinyLMConfig, pad: torch.Tensor, capacity: int,
                 dtype=torch.float32, device=None, prefix: KVCache | None = None):
        B, H, D = len(pad), cfg.n_head, cfg.n_embd // cfg.n_head
        self.cfg = cfg
        # [L, B, H, capacity, D]; a slot is read only after it was written
        self.keys = torch.empty(cfg.n_layer, B, H, capacity, D, dtype=dtype, device=device)
        self.values = torch.empty_like(self.keys)
        self.pad = pad.to(device)  # [B] padding slots before each row's first token
        self.prefix = prefix  # the shared cache this one continues (row b: prefix row b // k)
        self.start = prefix.length if prefix else 0  # slot of this cache's first key
        self.length = 0  # slots filled here (the same for every row)

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def branch(self, k: int, capacity: int) -> KVCache:
        """A cache of k rows per row of this one (which must not grow any more), `capacity`
        slots each, that continue this one's tokens."""
        return KVCache(self.cfg, self.pad.repeat_interleave(k), capacity, self.keys.dtype,
                       self.keys.device, prefix=self)

    def positions(self, T: int) -> torch.Tensor:
        """[B, T] position ids of the next T slots (0 at each row's first real token)."""
        slots = torch.arange(self.length, self.length + T, device=self.pad.device) + self.start
        return (slots[None] - self.pad[:, None]).clamp(min=0)

    def mask(self, T: int) -> torch.Tensor:
        """[B, 1, T, S] attention mask of the next T slots over this cache's S = length + T:
        causal, and never onto padding (a padding slot sees itself only, so no row of the
        softmax is empty). The prefix's keys are all earlier: only its padding is masked."""
        keys = torch.arange(self.length + T, device=self.pad.device)
        queries = keys[self.length:, None]
        causal = keys[None] <= queries  # [T, S]
        real = (keys + self.start)[None, None] >= self.pad[:, None, None]  # [B, 1, S]
        return ((causal & real) | (keys[None] == queries)).unsqueeze(1)

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
        """Store this step's keys and values [B, H, T, D] after the filled slots, then attend
        with queries q [B, H, T, D] over the prefix's keys and these: [B, H, T, D]. (`length`
        moves on once all layers have attended: TinyLM.forward_cached does it.)"""
        B, H, T, D = q.shape
        end = self.length + T
        if end > self.capacity:
            raise ValueError(f"KV cache full: {end} slots needed, capacity {self.capacity}")
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        k, v = self.keys[layer, :, :, :end], self.values[layer, :, :, :end]  # [B, H, S, D]
        # written out (nanoGPT's slow path): for T = 1 query, 5x faster than the fused CPU
        # kernel with a mask
        scale = 1.0 / math.sqrt(D)
        own = ((q @ k.transpose(-2, -1)) * scale).masked_fill(~mask, float("-inf"))  # [B,H,T,S]
        if self.prefix is None:
            return own.softmax(dim=-1) @ v
        p = self.prefix
        N, G, P = len(p.pad), B // len(p.pad), p.length  # prompts, branches each, prefix slots
        pk, pv = p.keys[layer, :, :, :P], p.values[layer, :, :, :P]  # [N, H, P, D]
        grouped = q.view(N, G, H, T, D).transpose(1, 2).reshape(N, H, G * T, D)
        shared = (grouped @ pk.transpose(-2, -1)) * scale  # [N, H, G*T, P]: one GEMM per prompt
        real = torch.arange(P, device=q.device)[None] >= p.pad[:, None]  # [N, P]
        shared = shared.masked_fill(~real[:, None, None], float("-inf"))
        shared = shared.view(N, H, G, T, P).transpose(1, 2).reshape(B, H, T, P)
        att = torch.cat([shared, own], dim=-1).softmax(dim=-1)  # [B, H, T, P + S]
        to_prefix = att[..., :P].reshape(N, G, H, T, P).transpose(1, 2).reshape(N, H, G * T, P)
        y = (to_prefix @ pv).view(N, H, G, T, D).transpose(1, 2).reshape(B, H, T, D)
        return y + att[..., P:] @ v


def rope_angles(pos: torch.Tensor, head_dim: int, base: float = 10000.0):
    """(cos, sin) [..., T, head_dim / 2] of the rotary angles pos * base^(-2i / head_dim)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=pos.device) / head_dim)
    angles = pos[..., None].float() * inv_freq
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, rope) -> torch.Tensor:
    """Rotate each (x_i, x_{i + D/2}) pair of x [B, H, T, D] by its angle (GPT-NeoX layout)."""
    cos, sin = rope  # [T, D/2] or [B, 1, T, D/2]
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class SelfAttention(nn.Module):
    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x, rope=None, cache: KVCache | None = None, layer: int = 0, mask=None):
        """Causal self-attention; with a cache, over its keys too (and this call's are added)."""
        B, T, C = x.size()  # batch, sequence length, embedding dim
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rope is not None:
            q, k = rotate(q, rope), rotate(k, rope)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            y = cache.attend(layer, q, k, v, mask)  # over every key so far, these included
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def forward(self, x, rope=None, cache: KVCache | None = None, layer: int = 0, mask=None):
        x = x + self.attn(self.ln1(x), rope, cache, layer, mask)
        return x + self.mlp(self.ln2(x))


class ResidualBlock(nn.Module):
    """conv 3x3 -> norm -> ReLU -> conv 3x3 -> norm, plus the input, -> ReLU (AlphaZero's block;
    GroupNorm over all channels instead of BatchNorm, so train and eval modes compute alike)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(1, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(1, channels)

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(x + self.norm2(self.conv2(y)))


class ConvTrunk(nn.Module):
    """A board as planes through `n_layer` residual blocks, then one linear layer to n_embd.

    Token input: the cell embeddings are the planes [B, C, rows, cols] (the later tokens, the
    side to move, added to every cell). Observation input: the observation's whole planes, and
    each feature after them as a constant plane, enter through a 3x3 convolution to n_embd."""

    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.rows, self.cols = cfg.board_rows, cfg.board_cols
        cells = self.rows * self.cols
        self.planes = cfg.observation_size // cells  # whole observation planes (0: tokens)
        self.stem = None
        if cfg.observation_size:
            extra = cfg.observation_size - self.planes * cells
            self.stem = nn.Conv2d(self.planes + extra, cfg.n_embd, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(cfg.n_embd) for _ in range(cfg.n_layer)))
        self.out = nn.Linear(cfg.n_embd * cells, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, C] embeddings, or [B, F] observations -> [B, n_embd]."""
        cells = self.rows * self.cols
        if self.stem is not None:
            B = x.shape[0]
            planes = x[:, :self.planes * cells].reshape(B, self.planes, self.rows, self.cols)
            extra = x[:, self.planes * cells:, None, None].expand(-1, -1, self.rows, self.cols)
            planes = F.relu(self.stem(torch.cat([planes, extra], 1)))
        else:
            B, _, C = x.shape
            planes = x[:, :cells] + x[:, cells:].sum(1, keepdim=True)
            planes = planes.transpose(1, 2).reshape(B, C, self.rows, self.cols)
        return self.out(self.blocks(planes).flatten(1))


def check_device(name: str) -> torch.device:
    """The torch device `name` names; ValueError, in one line, for a name torch does not know or
    a GPU this machine does not have (a run begun on a GPU and resumed without one)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r} is not a torch device (cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: torch sees no CUDA GPU on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: lmzero's networks run on cpu or cuda")
    return device


class TinyLM(nn.Module):
    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.cfg = cfg
        if not cfg.observation_size:  # observations enter the MLP directly: no embeddings
            self.tok = nn.Embedding(cfg.vocab_size, cfg.n_embd)
            if not cfg.rope:
                self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        if cfg.trunk == "transformer":
            self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        elif cfg.trunk == "resnet":
            self.conv = ConvTrunk(cfg)
        else:
            layers, width = [], cfg.observation_size or cfg.block_size * cfg.n_embd
            for _ in range(cfg.n_layer):
                layers += [nn.Linear(width, cfg.mlp_width), nn.GELU()]
                width = cfg.mlp_width
            layers.append(nn.Linear(width, cfg.n_embd))
            self.mlp = nn.Sequential(*layers)
            self._folded, self._folded_key = None, None  # `_folded_input`'s cache
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.policy_head = nn.Linear(cfg.n_embd, cfg.vocab_size)  # next-token logits
        self.value_head = nn.Sequential(nn.Linear(cfg.n_embd, cfg.n_embd), nn.GELU(),
                                        nn.Linear(cfg.n_embd, 1))
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, T] token ids -> [B, T, C] hidden states (the MLP trunk fills only the last);
        with `observation_size`, [B, F] float observations -> [B, 1, C]."""
        if self.cfg.observation_size:
            trunk = self.conv if self.cfg.trunk == "resnet" else self.mlp
            return self.ln_f(trunk(tokens.float())).unsqueeze(1)
        B, T = tokens.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.cfg.block_size}")
        pos = torch.arange(T, device=tokens.device)
        x = self.tok(tokens)
        if self.cfg.rope:
            rope = rope_angles(pos, self.cfg.n_embd // self.cfg.n_head)
        else:
            x, rope = x + self.pos(pos), None
        if self.cfg.trunk == "transformer":
            for block in self.blocks:
                x = block(x, rope)
            return self.ln_f(x)
        if self.cfg.trunk == "resnet":
            return self.ln_f(self.conv(x)).unsqueeze(1).expand(B, T, -1)
        if T == self.cfg.block_size and not torch.is_grad_enabled():
            first = F.embedding_bag(tokens + self._offsets(T), self._folded_input(),
                                    mode="sum") + self.mlp[0].bias
            return self.ln_f(self.mlp[1:](first)).unsqueeze(1).expand(B, T, -1)
        flat = F.pad(x, (0, 0, 0, self.cfg.block_size - T)).flatten(1)  # [B, block_size * C]
        return self.ln_f(self.mlp(flat)).unsqueeze(1).expand(B, T, -1)

    def _offsets(self, T: int) -> torch.Tensor:
        return torch.arange(T, device=self.tok.weight.device) * self.cfg.vocab_size

    def _folded_input(self) -> torch.Tensor:
        """float [block_size * vocab, mlp_width]: row p * vocab + t is what token t at position
        p adds to the MLP trunk's first layer (its embedding plus the position's, times that
        position's slice of the weight). The first layer is linear in those embeddings, so at
        inference one gather-sum over this table (`F.embedding_bag`) replaces the trunk's
        widest matmul (block_size * n_embd inputs): the same output, several times faster.
        Rebuilt when the weights changed (an optimizer step or a load moves their version)."""
        weights = (self.tok.weight, self.pos.weight, self.mlp[0].weight)
        key = tuple((w._version, w.data_ptr()) for w in weights)
        if key != self._folded_key:
            T, V, C = self.cfg.block_size, self.cfg.vocab_size, self.cfg.n_embd
            with torch.inference_mode(False), torch.no_grad():
                embedded = self.tok.weight[None] + self.pos.weight[:, None]  # [T, V, C]
                slices = self.mlp[0].weight.view(-1, T, C)  # [width, T, C]
                table = torch.einsum("tvc,wtc->tvw", embedded, slices).reshape(T * V, -1)
            self._folded, self._folded_key = table, key
        return self._folded

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, T, vocab] of the next token at each position, value [B] of the state)."""
        h = self.hidden(tokens)
        return self.policy_head(h), torch.tanh(self.value_head(h[:, -1])).squeeze(-1)

    def new_cache(self, pad: torch.Tensor, capacity: int) -> KVCache:
        """An empty KV cache for len(pad) rows, left-padded by pad[b] slots."""
        p = self.tok.weight
        return KVCache(self.cfg, pad, capacity, dtype=p.dtype, device=p.device)

    def forward_cached(self, tokens: torch.Tensor, cache: KVCache,
                       every_value: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Incremental forward of the transformer trunk: [B, T] tokens following those in
        `cache` -> (logits [B, T, vocab], value [B] at the last of them, or [B, T] at each if
        `every_value`); extends the cache in place. Equal to `forward` on the whole sequence
        (without its padding)."""
        if self.cfg.trunk != "transformer":
            raise ValueError("forward_cached needs the transformer trunk (the MLP trunk reads "
                             "the whole block at once)")
        B, T = tokens.shape
        pos = cache.positions(T)  # [B, T]
        if int(pos.max()) >= self.cfg.block_size:
            raise ValueError(f"sequence of {int(pos.max()) + 1} tokens exceeds block_size "
                             f"{self.cfg.block_size}")
        x = self.tok(tokens)
        if self.cfg.rope:  # angles per row: [B, 1, T, head_dim / 2]
            rope = tuple(a[:, None] for a in rope_angles(pos, self.cfg.n_embd // self.cfg.n_head))
        else:
            x, rope = x + self.pos(pos), None
        mask = cache.mask(T)
        for layer, block in enumerate(self.blocks):
            x = block(x, rope, cache, layer, mask)
        cache.length += T
        h = self.ln_f(x)
        value = torch.tanh(self.value_head(h if every_value else h[:, -1])).squeeze(-1)
        return self.policy_head(h), value

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """Where the weights live: callers put their input tensors here."""
        return next(self.parameters()).device
