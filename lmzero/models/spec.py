"""One string names a step model, for every command: `load_model(spec, task)`.

    tinylm:PATH                              a tinylm checkpoint or run directory
    hf:PATH_OR_GGUF                          a transformers model directory or .gguf file, or a
                                             checkpoint `lmzero train --model hf:...` wrote
    openai:http://127.0.0.1:8000/v1#MODEL    an OpenAI-compatible server (#MODEL optional when
                                             the server serves one model)
    vllm:NAME_OR_PATH                        an in-process vLLM engine (GPU)

Keyword options go to the backend's config (`HFConfig`, `OpenAIConfig`, `VLLMConfig`; tinylm
takes `seed` and `max_step_chars`), e.g. `load_model("hf:m.gguf", countdown.TASK, value="judge")`.
Backends import lazily, so naming one never imports another's packages.
"""

from __future__ import annotations

from pathlib import Path

from lmzero.models.step_model import StepModel

FORMS = ("tinylm:PATH", "hf:PATH_OR_GGUF", "openai:http://HOST:PORT/v1#MODEL",
         "vllm:NAME_OR_PATH")


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """(backend, location, model name or None); ValueError naming the accepted forms.

    >>> parse_spec("openai:http://127.0.0.1:8000/v1#smollm2")
    ('openai', 'http://127.0.0.1:8000/v1', 'smollm2')
    >>> parse_spec("hf:/models/SmolLM2.gguf")
    ('hf', '/models/SmolLM2.gguf', None)
    >>> parse_spec("gpt4")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: bad model spec 'gpt4': use tinylm:PATH, hf:PATH_OR_GGUF, ... or vllm:NAME_OR_PATH
    """
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("tinylm", "hf", "openai", "vllm") or not rest.strip():
        raise ValueError(f"bad model spec {spec!r}: use {', '.join(FORMS[:-1])} or {FORMS[-1]}")
    if kind != "openai":
        return kind, rest, None
    url, _, model = rest.partition("#")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"bad model spec {spec!r}: an openai spec is "
                         "openai:http://HOST:PORT/v1#MODEL")
    return kind, url, model or None


def load_model(spec: str, task, **options) -> StepModel:
    """The step model a spec names, set up for `task` (a task object or a registered name: the
    instruction and judge question of pretrained LMs, the task check of tinylm checkpoints)."""
    kind, where, model = parse_spec(spec)
    if isinstance(task, str):
        from lmzero.tasks import load_task
        task = load_task(task)
    try:
        return _load(kind, where, model, task, options)
    except TypeError as e:  # an option the backend's config does not have
        raise ValueError(f"{kind} model: {e}") from None


def _load(kind: str, where: str, model: str | None, task, options: dict) -> StepModel:
    if kind == "tinylm":
        from lmzero.models.tinylm_steps import load_step_model
        return load_step_model(Path(where), task=task, **options)
    if kind == "hf":
        from lmzero.models.hf_checkpoint import is_hf_checkpoint, load_hf_checkpoint
        if is_hf_checkpoint(where):  # trained here by self-improvement: base + adapters
            return load_hf_checkpoint(Path(where), task, **options)
        from lmzero.models.hf_backend import HFConfig, HFStepModel
        return HFStepModel.load(where, HFConfig(**options), task=task)
    if kind == "openai":
        from lmzero.models.openai_backend import OpenAIConfig, OpenAIStepModel
        return OpenAIStepModel(OpenAIConfig(base_url=where, model=model, **options), task=task)
    from lmzero.models.vllm_backend import VLLMConfig, VLLMStepModel
    return VLLMStepModel(VLLMConfig(model=where, **options), task=task)
