"""Tasks: what is solved and how it is scored (games now; reasoning tasks later)."""
