"""Models behind the search's two seams.

Games (closed action spaces): `Evaluator.evaluate(states) -> (priors, values)`, served by tinylm
through `game_net.NetworkEvaluator`. Reasoning tasks (open action spaces): `StepModel.expand /
value` (`step_model.py`), served by

    tinylm_steps   TinyLMStepModel: the character-level tinylm trained here (KV cache, batched)
    hf_backend     HFStepModel: any local transformers causal LM, directory or GGUF
    openai_backend OpenAIStepModel: any OpenAI-compatible /v1/completions server
    vllm_backend   VLLMStepModel: an in-process vLLM engine (GPU)

`spec.load_model("tinylm:PATH" | "hf:PATH" | "openai:URL#MODEL" | "vllm:NAME", task)` picks one.
"""
