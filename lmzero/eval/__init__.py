"""Evaluation: arena matches between players, and exact-solver scores of a model's moves."""
