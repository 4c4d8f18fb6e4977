"""Any OpenAI-compatible `/v1/completions` server with log-probabilities as a `StepModel`: vLLM,
SGLang, llama.cpp's server. Standard library only (urllib + daemon threads).

One request about one state is one model call: `n=k` samples with `stop=["\\n"]` and
`logprobs=1` in one HTTP request, or, for a server that refuses `n > 1` (llama.cpp) or answers
it with fewer choices, k parallel single requests (remembered for later calls). At most
`concurrency` requests are in flight; 429 and 5xx answers, timeouts and connections that break
mid-answer are retried with exponential backoff; other 4xx answers are final. Nothing needs
`echo` (prompt log-probs are never asked for), so a server that refuses it serves all the same.

Every answer is checked field by field where it is parsed (`openai_answers`): what the API
does not promise is one `BackendError` naming the endpoint and the field. Requests run on
daemon threads while the calling thread waits in short polls: Ctrl-C reaches it within
`POLL_SECONDS` even while every request hangs, and a hung request never holds the process.

Budget from each response's `usage`: `completion_tokens` are generated tokens (every sample);
`prompt_tokens` are charged, less any `prompt_tokens_details.cached_tokens` the server says came
from its prefix cache (reported as reused), and with `n=k` the k - 1 samples that shared the
one prompt pass count (k - 1) x prompt as reused. Values: 'judge' (one more request: the
prompt + the judge question, P(yes)/(P(yes)+P(no)) from the first token's top log-probs) or
'none'.
"""

from __future__ import annotations

import http.client
import json
import math
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Sequence

from lmzero.models.lm_steps import (BackendError, PromptFormat, check_request, merge_samples,
                                    per_prompt, yes_probability)
from lmzero.models.openai_answers import Answer, parse_completion, parse_models
from lmzero.tasks.base import one_line
from lmzero.models.step_model import Expansion

RETRY_STATUS = (429, 500, 502, 503, 504)
POLL_SECONDS = 0.25
"""How often a thread waiting on requests wakes to let a pending Ctrl-C through."""


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

    def _request(self, path: str, body: dict | None = None) -> object:
        """GET (body None) or POST JSON, retrying what may pass (429, 5xx, timeouts, broken
        connections) with backoff; the decoded JSON, of any shape (the caller checks it)."""
        url = f"{self.config.base_url}{path}"
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=headers)
        for attempt in range(self.config.retries + 1):
            try:
                return _decode(self._send(request), url)
            except _Transient as e:
                if attempt == self.config.retries:
                    raise BackendError(f"{url}: {e} (tried {attempt + 1} times)") from None
                time.sleep(self.config.backoff * 2 ** attempt if e.delay is None else e.delay)
        raise AssertionError("unreachable")

    def _send(self, request: urllib.request.Request) -> bytes:
        """One try: the answer's body; _ServerRefused for an HTTP error not worth retrying,
        _Transient for one that is, BackendError when the server cannot be reached."""
        wait = f"no answer within {self.config.timeout:g} s"
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            if e.code in RETRY_STATUS:
                raise _Transient(f"the server answered {e.code} ({_error_text(e)})",
                                 _retry_after(e)) from None
            raise _ServerRefused(e.code, _error_text(e), request.full_url) from None
        except urllib.error.URLError as e:  # raised while connecting and sending
            if isinstance(e.reason, TimeoutError):
                raise _Transient(wait) from None
            reason = getattr(e.reason, "strerror", None) or e.reason
            raise BackendError(f"cannot reach {self.config.base_url} ({reason}): is the "
                               "server running?") from None
        except TimeoutError:
            raise _Transient(wait) from None
        except (http.client.IncompleteRead, ConnectionError) as e:  # cut off mid-answer
            raise _Transient(f"the connection broke mid-answer ({type(e).__name__})") from None
        except http.client.HTTPException as e:  # a bad status line or header, a bad URL
            raise BackendError(f"{request.full_url}: not an HTTP answer ({type(e).__name__}: "
                               f"{one_line(str(e), 80)})") from None
        except OSError as e:
            raise BackendError(f"{request.full_url}: {e.strerror or e}") from None

    def _check_model(self, model: str | None) -> str:
        """The model to ask for, checked against /v1/models (skipped if the server lacks it)."""
        try:
            listed = parse_models(self._request("/models"), f"{self.config.base_url}/models")
        except _ServerRefused as e:
            if e.status == 404 and model:
                return model
            raise BackendError(str(e)) from None
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
                  logprobs: int = 1) -> Answer:
        body = {"model": self.model, "prompt": prompt, "n": n, "max_tokens": max_tokens,
                "temperature": temperature, "logprobs": logprobs, "stop": ["\n"]}
        if self.config.seed is not None:
            body["seed"] = self.config.seed
        return parse_completion(self._request("/completions", body),
                                f"{self.config.base_url}/completions", self.format.keep_indent)

    # -- the StepModel protocol ---------------------------------------------------------------

    def expand(self, prompts: Sequence[str], k: int, *, temperature=1.0,
               greedy: bool = False, with_value: bool = True) -> list[Expansion]:
        check_request(k, temperature, greedy)
        samples = 1 if greedy else k
        temps = [0.0] * len(prompts) if greedy else per_prompt(temperature, len(prompts))
        texts = [self.format.plain(p) for p in prompts]
        answers: list[list[Answer]] = [[] for _ in texts]  # per prompt: its HTTP answers
        if samples > 1 and self.use_n is None and texts:
            [answers[0]] = self._map(lambda text: self._probe_n(text, samples, temps[0]),
                                     texts[:1])
        n = samples if self.use_n else 1
        jobs = [i for i in range(len(texts)) if not answers[i]
                for _ in range(samples // n)]  # one n=k request, or k single ones
        judge = with_value and self.config.value == "judge"
        done = self._map(lambda job: self._call(texts[job], n, temps[job]), jobs)
        values = self._map(self._judge, texts) if judge else [(None, 0)] * len(texts)
        for i, answer in zip(jobs, done):
            answers[i].append(answer)
        short = [i for i, a in enumerate(answers)
                 for _ in range(samples - sum(len(x.samples) for x in a))]
        for i, answer in zip(short, self._map(lambda i: self._call(texts[i], 1, temps[i]),
                                              short)):
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
        return run_parallel(fn, items, self.config.concurrency)

    def _call(self, text: str, n: int, temperature: float, max_tokens: int | None = None,
              logprobs: int = 1) -> Answer:
        try:
            return self._complete(text, n, temperature=temperature, logprobs=logprobs,
                                  max_tokens=max_tokens or self.config.max_step_tokens)
        except _ServerRefused as e:
            raise BackendError(str(e)) from None

    def _probe_n(self, text: str, k: int, temperature: float) -> list[Answer]:
        """Ask for n=k once: the answer if the server takes it; none (and single requests from
        now on) if it refuses n > 1 with a client error, as llama.cpp's server does."""
        try:
            answer = self._complete(text, k, temperature=temperature,
                                    max_tokens=self.config.max_step_tokens)
        except _ServerRefused as e:
            if e.status in (401, 403, 404):
                raise BackendError(str(e)) from None
            self.use_n = False
            return []
        self.use_n = len(answer.samples) > 1  # silently one choice: treat as refused
        return [answer]

    def _judge(self, text: str) -> tuple[float, int]:
        """(P(yes) / (P(yes) + P(no)) of the answer's first token, prompt tokens charged)."""
        answer = self._call(text + self.format.judge_question, 1, 0.0, max_tokens=1,
                            logprobs=self.config.judge_top_logprobs)
        yes = no = 0.0
        for token, logprob in answer.samples[0].top.items():
            word = token.strip().lower()
            yes += math.exp(logprob) if word == "yes" else 0.0
            no += math.exp(logprob) if word == "no" else 0.0
        return yes_probability(yes, no), answer.prompt_tokens - answer.cached_tokens


def run_parallel(fn, items: list, workers: int) -> list:
    """fn over items on at most `workers` daemon threads, results in order; the first failure
    is raised as soon as it happens (later items are not started). The caller waits in polls
    of POLL_SECONDS, so Ctrl-C interrupts it at once; daemon threads, so a request still
    hanging on a dead server never holds the process (a thread pool's workers would)."""
    todo, finished, stop = queue.SimpleQueue(), queue.SimpleQueue(), threading.Event()
    for i in range(len(items)):
        todo.put(i)

    def work():
        while not stop.is_set():
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((i, fn(items[i]), None))
            except BaseException as error:  # noqa: BLE001  handed to the waiting thread
                finished.put((i, None, error))

    for _ in range(min(workers, len(items))):
        threading.Thread(target=work, daemon=True, name="lmzero-openai").start()
    results = [None] * len(items)
    try:
        for _ in items:
            i, result, error = _next(finished)
            if error is not None:
                raise error
            results[i] = result
    finally:
        stop.set()
    return results


def _next(finished: queue.SimpleQueue):
    """The next finished item, waking every POLL_SECONDS so a pending signal is handled."""
    while True:
        try:
            return finished.get(timeout=POLL_SECONDS)
        except queue.Empty:
            pass


def _expansion(answers: list[Answer], k: int, value: float | None,
               judge_tokens: int) -> Expansion:
    """One state's HTTP answers (its k samples) -> an Expansion charged from their `usage`."""
    samples, charged, reused, generated = [], judge_tokens, 0, 0
    for a in answers:
        charged += a.prompt_tokens - a.cached_tokens
        reused += a.cached_tokens + (len(a.samples) - 1) * a.prompt_tokens  # n share a prompt
        generated += a.completion_tokens
        samples += a.samples
    samples = samples[:k]
    e = merge_samples([s.step for s in samples], [s.logprob for s in samples],
                      [s.tokens for s in samples], value=value, prompt_tokens=charged,
                      reused_prompt_tokens=reused)
    e.generated_tokens = generated  # the server's count (usage), not the log-prob count
    return e


# -- HTTP failures --------------------------------------------------------------------------------

class _ServerRefused(Exception):
    """An HTTP error answer not worth retrying (kept apart so the n > 1 probe can tell a
    refusal)."""

    def __init__(self, status: int, message: str, url: str):
        super().__init__(f"{url}: the server answered {status} ({message})")
        self.status = status


class _Transient(Exception):
    """A failure that may pass (busy, timed out, cut off): retried, then a BackendError."""

    def __init__(self, message: str, delay: float | None = None):
        super().__init__(message)
        self.delay = delay
        """Seconds the server asked us to wait (Retry-After); None = our own backoff."""


def _error_text(e: urllib.error.HTTPError) -> str:
    """The server's own error message, on one line of at most 200 characters."""
    try:
        raw = e.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    try:
        body = json.loads(raw)
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message", error) if isinstance(error, dict) else error
    except (ValueError, RecursionError):  # not JSON: a proxy's HTML page, plain text
        message = raw.decode("utf-8", "replace")
    return one_line(str(message), 200) or str(e.reason)


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    """Retry-After in seconds (0 included), at most 30; None when absent or not a number."""
    try:
        delay = float(e.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return min(30.0, delay) if delay >= 0 else None  # NaN and negatives: our own backoff


def _decode(raw: bytes, url: str) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        shown = one_line(raw[:80].decode("utf-8", "replace"), 60)
        raise BackendError(f"{url}: the answer is not JSON ({shown!r})" if shown else
                           f"{url}: the answer is empty, not JSON") from None
