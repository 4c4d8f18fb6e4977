"""Any OpenAI-compatible `/v1/completions` server with log-probabilities as a `StepModel`: vLLM,
SGLang, llama.cpp's server. Standard library only (urllib + a thread pool).

One request about one state is one model call: `n=k` samples with `stop=["\\n"]` and
`logprobs=1` in one HTTP request, or, for a server that refuses `n > 1` (llama.cpp) or answers
it with fewer choices, k parallel single requests (remembered for later calls). At most
`concurrency` requests are in flight; 429 and 5xx answers and timeouts are retried with
exponential backoff. Nothing needs `echo` (prompt log-probs are never asked for), so a server
that refuses it serves all the same.

Budget from each response's `usage`: `completion_tokens` are generated tokens (every sample);
`prompt_tokens` are charged, less any `prompt_tokens_details.cached_tokens` the server says came
from its prefix cache (reported as reused), and with `n=k` the k - 1 samples that shared the
one prompt pass count (k - 1) x prompt as reused. Values: 'judge' (one more request: the
prompt + the judge question, P(yes)/(P(yes)+P(no)) from the first token's top log-probs) or
'none'.
"""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from lmzero.models.lm_steps import (BackendError, PromptFormat, check_request, cut_step,
                                    merge_samples, yes_probability)
from lmzero.models.step_model import Expansion

RETRY_STATUS = (429, 500, 502, 503, 504)


@dataclass
class OpenAIConfig:
    base_url: str = "http://127.0.0.1:8000/v1"
    """The server's API root (ends in /v1)."""
    model: str | None = None
    """Model name as the server lists it at /v1/models; None = the only one it serves."""
    instruction: str | None = None
    """Text before the task prompt; None = the task's own (`task.instruction`)."""
    value: str = "none"
    """'judge' (the LM's P(yes) to `judge_question`, one extra request) or 'none'."""
    judge_question: str | None = None
    """value='judge': text appended to the prompt; None = the task's default."""
    judge_top_logprobs: int = 10
    """Top log-probs asked for the judge's answer token (yes/no are looked for among them)."""
    max_step_tokens: int = 48
    """Longest step in tokens (`max_tokens`); a sample cut off there is dropped."""
    concurrency: int = 8
    """HTTP requests in flight at once."""
    timeout: float = 120.0
    """Seconds to wait for one response."""
    retries: int = 4
    """Retries of a request answered 429 / 5xx or timed out (then a BackendError)."""
    backoff: float = 0.5
    """First retry delay in seconds, doubled each retry (a Retry-After header wins)."""
    use_n: bool | None = None
    """Ask for k samples in one request: None = try, and fall back to single requests if the
    server refuses; False = single requests always."""
    api_key: str | None = None
    """Sent as a bearer token when set."""
    seed: int | None = None
    """Sampling seed sent to the server (None: the server's own randomness)."""

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got "
                             f"{self.base_url!r}")
        self.base_url = self.base_url.rstrip("/")
        if self.value not in ("judge", "none"):
            raise ValueError(f"value must be 'judge' or 'none' over HTTP, got {self.value!r}")
        if min(self.max_step_tokens, self.concurrency, self.judge_top_logprobs) < 1:
            raise ValueError("max_step_tokens, concurrency and judge_top_logprobs must be >= 1")
        if self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise ValueError("retries >= 0, timeout > 0 and backoff >= 0 are required")


class OpenAIStepModel:
    """k sampled steps per prompt from an OpenAI-compatible server (module doc)."""

    def __init__(self, config: OpenAIConfig | None = None, task=None):
        self.config = config = config or OpenAIConfig()
        self.format = PromptFormat.for_task(task, False, config.instruction,
                                            config.judge_question)
        self.use_n = config.use_n
        self.model = self._check_model(config.model)

    # -- HTTP ---------------------------------------------------------------------------------

    def _request(self, path: str, body: dict | None = None) -> dict:
        """GET (body None) or POST JSON with retries; the decoded JSON answer."""
        url = f"{self.config.base_url}{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        for attempt in range(self.config.retries + 1):
            last = attempt == self.config.retries
            try:
                request = urllib.request.Request(url, data=data, headers=headers)
                with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as e:
                if e.code not in RETRY_STATUS or last:
                    raise _ServerRefused(e.code, _error_text(e), url) from None
                delay = _retry_after(e) or self.config.backoff * 2 ** attempt
            except (TimeoutError, socket.timeout):
                if last:
                    raise BackendError(f"{url}: no answer within {self.config.timeout:g} s "
                                       f"({self.config.retries + 1} tries)") from None
                delay = self.config.backoff * 2 ** attempt
            except urllib.error.URLError as e:
                reason = getattr(e.reason, "strerror", None) or e.reason
                raise BackendError(f"cannot reach {self.config.base_url} ({reason}): is the "
                                   "server running?") from None
            except ValueError:
                raise BackendError(f"{url}: the answer is not JSON") from None
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _check_model(self, model: str | None) -> str:
        """The model to ask for, checked against /v1/models (skipped if the server lacks it)."""
        try:
            listed = [m["id"] for m in self._request("/models").get("data", [])]
        except _ServerRefused as e:
            if e.status == 404 and model:
                return model
            raise BackendError(str(e)) from None
        except (KeyError, TypeError, AttributeError):
            raise BackendError(f"{self.config.base_url}/models: not an OpenAI model list") \
                from None
        if model is None:
            if len(listed) != 1:
                raise BackendError(f"{self.config.base_url} serves {len(listed)} models "
                                   f"({', '.join(listed) or 'none'}): name one after '#'")
            return listed[0]
        if model not in listed:
            raise BackendError(f"{self.config.base_url} does not serve model {model!r} (it "
                               f"serves: {', '.join(listed) or 'nothing'})")
        return model

    def _complete(self, prompt: str, n: int, *, temperature: float, max_tokens: int,
                  logprobs: int = 1) -> dict:
        body = {"model": self.model, "prompt": prompt, "n": n, "max_tokens": max_tokens,
                "temperature": temperature, "logprobs": logprobs, "stop": ["\n"]}
        if self.config.seed is not None:
            body["seed"] = self.config.seed
        answer = self._request("/completions", body)
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(choices, list) or not choices:
            raise BackendError(f"{self.config.base_url}/completions: an answer without choices")
        for c in choices:
            lp = c.get("logprobs") if isinstance(c, dict) else None
            if not isinstance(lp, dict) or not isinstance(lp.get("token_logprobs"), list):
                raise BackendError(f"{self.config.base_url}/completions: the answer has no "
                                   "log-probabilities (the server must support 'logprobs')")
        return answer

    # -- the StepModel protocol ---------------------------------------------------------------

    def expand(self, prompts: Sequence[str], k: int, *, temperature: float = 1.0,
               greedy: bool = False, with_value: bool = True) -> list[Expansion]:
        check_request(k, temperature, greedy)
        samples, temp = (1, 0.0) if greedy else (k, temperature)
        texts = [self.format.plain(p) for p in prompts]
        answers: list[list[dict]] = [[] for _ in texts]  # per prompt: its HTTP answers
        if samples > 1 and self.use_n is None and texts:
            answers[0] += self._probe_n(texts[0], samples, temp)
        n = samples if self.use_n else 1
        jobs = [i for i in range(len(texts)) if not answers[i]
                for _ in range(samples // n)]  # one n=k request, or k single ones
        judge = with_value and self.config.value == "judge"
        done = self._map(lambda job: self._call(texts[job], n, temp), jobs)
        values = self._map(self._judge, texts) if judge else [(None, 0)] * len(texts)
        for i, answer in zip(jobs, done):
            answers[i].append(answer)
        short = [i for i, a in enumerate(answers)
                 for _ in range(samples - sum(len(x["choices"]) for x in a))]
        for i, answer in zip(short, self._map(lambda i: self._call(texts[i], 1, temp), short)):
            answers[i].append(answer)  # a server that gave fewer choices than asked
        return [_expansion(a, samples, v, judge_tokens) for a, (v, judge_tokens)
                in zip(answers, values)]

    def value(self, prompts: Sequence[str]) -> list[Expansion]:
        if self.config.value == "none":
            return [Expansion() for _ in prompts]
        judged = self._map(self._judge, [self.format.plain(p) for p in prompts])
        return [Expansion(value=v, prompt_tokens=n) for v, n in judged]

    # -- requests -----------------------------------------------------------------------------

    def _map(self, fn, items: list) -> list:
        """fn over items with at most `concurrency` requests in flight, results in order."""
        if len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(min(self.config.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def _call(self, text: str, n: int, temperature: float, max_tokens: int | None = None,
              logprobs: int = 1) -> dict:
        try:
            return self._complete(text, n, temperature=temperature, logprobs=logprobs,
                                  max_tokens=max_tokens or self.config.max_step_tokens)
        except _ServerRefused as e:
            raise BackendError(str(e)) from None

    def _probe_n(self, text: str, k: int, temperature: float) -> list[dict]:
        """Ask for n=k once: the answer if the server takes it; none (and single requests from
        now on) if it refuses n > 1 with a client error, as llama.cpp's server does."""
        try:
            answer = self._complete(text, k, temperature=temperature,
                                    max_tokens=self.config.max_step_tokens)
        except _ServerRefused as e:
            if e.status >= 500 or e.status in (401, 403, 404, 429):
                raise BackendError(str(e)) from None
            self.use_n = False
            return []
        self.use_n = len(answer["choices"]) > 1  # silently one choice: treat as refused
        return [answer]

    def _judge(self, text: str) -> tuple[float, int]:
        """(P(yes) / (P(yes) + P(no)) of the answer's first token, prompt tokens charged)."""
        answer = self._call(text + self.format.judge_question, 1, 0.0, max_tokens=1,
                            logprobs=self.config.judge_top_logprobs)
        tops = answer["choices"][0]["logprobs"].get("top_logprobs") or [None]
        yes = no = 0.0
        for token, logprob in (tops[0] or {}).items():
            word = token.strip().lower()
            yes += math.exp(logprob) if word == "yes" else 0.0
            no += math.exp(logprob) if word == "no" else 0.0
        prompt, cached, _ = _usage(answer, 1)
        return yes_probability(yes, no), prompt - cached


def _expansion(answers: list[dict], k: int, value: float | None, judge_tokens: int) -> Expansion:
    """One state's HTTP answers (its k samples) -> an Expansion charged from their `usage`."""
    choices, charged, reused, generated = [], judge_tokens, 0, 0
    for a in answers:
        parsed = [_parse_choice(c) for c in a["choices"]]
        prompt, cached, completion = _usage(a, sum(n for _, _, n in parsed))
        charged += prompt - cached
        reused += cached + (len(parsed) - 1) * prompt  # n samples share one prompt pass
        generated += completion
        choices += parsed
    texts, sums, counts = zip(*choices[:k])
    e = merge_samples(list(texts), list(sums), list(counts), value=value, prompt_tokens=charged,
                      reused_prompt_tokens=reused)
    e.generated_tokens = generated  # the server's count (usage), not the log-prob count
    return e


class _ServerRefused(Exception):
    """An HTTP error answer (kept apart so the n > 1 probe can tell a refusal)."""

    def __init__(self, status: int, message: str, url: str):
        super().__init__(f"{url}: the server answered {status} ({message})")
        self.status = status


def _error_text(e: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(e.read() or b"{}")
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message", error) if isinstance(error, dict) else error
    except (ValueError, OSError):
        message = e.reason
    return " ".join(str(message).split())[:200] or str(e.reason)


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    try:
        return min(30.0, float(e.headers.get("Retry-After", "")))
    except (TypeError, ValueError):
        return None


def _parse_choice(choice: dict) -> tuple[str | None, float, int]:
    """(the step, or None if cut off at max_tokens; summed log-prob; tokens with a log-prob)."""
    logprobs = [x for x in choice["logprobs"]["token_logprobs"] if x is not None]
    ended = choice.get("finish_reason") != "length"
    return cut_step(choice.get("text") or "", ended), float(sum(logprobs)), len(logprobs)


def _usage(answer: dict, fallback_completion: int) -> tuple[int, int, int]:
    """(prompt tokens, of which cached, completion tokens) from `usage`; without usage the
    completion tokens are counted from the log-probs and the prompt is unknown (0)."""
    usage = answer.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return (int(usage.get("prompt_tokens", 0)), int(details.get("cached_tokens") or 0),
            int(usage.get("completion_tokens", fallback_completion)))
