"""lmzero: AlphaZero-style planning and self-improvement atop language models.

    Task ──► Search (PUCT / Gumbel, batched) ◄── Model.evaluate(states)
               │
               ▼
          trajectories ──► replay ──► learner ──► checkpoint ──► arena / eval
"""

__version__ = "0.1.0"
