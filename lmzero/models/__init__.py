"""Models behind the search's one seam, `evaluate(states) -> (priors, values)`.

tinylm (a small transformer or MLP trunk with policy and value heads) and its game evaluator;
the language-model backends (hf, openai, vllm) come next.
"""
