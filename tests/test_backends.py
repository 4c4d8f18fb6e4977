"""Model backends without a model: the OpenAI-compatible client against a local stand-in server
(vLLM's response shape, a server refusing n > 1 as llama.cpp's does, 429 then 200, errors), the
spec parser, the shared sample handling, and the vllm backend's missing-package error."""

import json
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lmzero.eval.reasoning import MethodConfig, evaluate
from lmzero.models.lm_steps import BackendError
from lmzero.models.openai_backend import OpenAIConfig, OpenAIStepModel
from lmzero.models.spec import load_model, parse_spec
from lmzero.tasks.arith import Problem
from lmzero.tasks.countdown import TASK

RECORDED = json.loads((Path(__file__).parent / "data" / "vllm_completions_n4.json").read_text())
PROMPT = TASK.prompt(TASK.initial_state(Problem.make([4, 9, 10, 13], 24)))


class FakeServer:
    """An OpenAI-compatible stand-in on 127.0.0.1: serves `models`, answers /completions from
    the recorded vLLM response (the first n choices), and can refuse n > 1 (llama.cpp's 400),
    answer 429 a few times first, or drop the log-probs. Logs every request body."""

    def __init__(self, models=("smollm2",), refuse_n=False, busy=0, no_logprobs=False,
                 status=None):
        self.models, self.refuse_n, self.busy = list(models), refuse_n, busy
        self.no_logprobs, self.status = no_logprobs, status
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [
                        {"id": m, "object": "model"} for m in server.models]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                self._send(*server.answer(body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, body):
        if self.status:
            return self.status, {"error": {"message": "engine overloaded"}}
        if self.busy:
            self.busy -= 1
            return 429, {"error": {"message": "rate limited"}}, [("Retry-After", "0")]
        n = body.get("n", 1)
        if self.refuse_n and n > 1:  # llama.cpp server's answer to n > 1
            return 400, {"error": {"code": 400, "type": "invalid_request_error",
                                   "message": "Only one completion choice is allowed"}}
        if body["max_tokens"] == 1:  # the judge's question
            tops = [{" yes": math.log(0.6), " no": math.log(0.2), " maybe": math.log(0.1)}]
            choices = [{"index": 0, "text": " yes", "finish_reason": "length", "logprobs": {
                "tokens": [" yes"], "token_logprobs": [math.log(0.6)], "top_logprobs": tops,
                "text_offset": [0]}}]
            return 200, {"choices": choices, "usage": {"prompt_tokens": 160,
                                                       "completion_tokens": 1}}
        start = len(self.requests) - 1 if n == 1 else 0  # singles walk through the choices
        choices = [dict(RECORDED["choices"][(start + i) % 4], index=i) for i in range(n)]
        if self.no_logprobs:
            choices = [dict(c, logprobs=None) for c in choices]
        completion = sum(len(c["logprobs"]["tokens"]) for c in
                         [RECORDED["choices"][(start + i) % 4] for i in range(n)])
        return 200, dict(RECORDED, choices=choices, usage={
            "prompt_tokens": 142, "completion_tokens": completion,
            "total_tokens": 142 + completion, "prompt_tokens_details": None})

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request):
    made = []

    def start(**kwargs):
        made.append(FakeServer(**kwargs))
        return made[-1]

    yield start
    for s in made:
        s.close()


def mean_logprob(choice) -> float:
    lps = choice["logprobs"]["token_logprobs"]
    return sum(lps) / len(lps)


def one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text and len(text) < 300, text
    return text


# -- the vLLM response shape --------------------------------------------------------------------

def test_vllm_shape_one_request_with_n(server):
    s = server()
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url, model="smollm2"), task="countdown")
    [e] = model.expand([PROMPT], 4)
    [body] = s.requests
    assert body["n"] == 4 and body["stop"] == ["\n"] and body["logprobs"] == 1
    assert body["prompt"] == TASK.instruction + "\n\n" + PROMPT
    c = RECORDED["choices"]
    # duplicates merge keeping the better mean log-prob; the cut-off sample proposes nothing
    assert e.steps == [c[2]["text"], c[1]["text"]] or e.steps == [c[1]["text"], c[2]["text"]]
    best = {c[0]["text"]: max(mean_logprob(c[0]), mean_logprob(c[2])),
            c[1]["text"]: mean_logprob(c[1])}
    assert e.logprobs == sorted(e.logprobs, reverse=True)
    assert dict(zip(e.steps, e.logprobs)) == pytest.approx(best)
    assert sum(e.priors) == pytest.approx(1.0)
    # budget from usage: the prompt computed once, shared by the other three samples
    assert e.generated_tokens == RECORDED["usage"]["completion_tokens"] == 105
    assert (e.prompt_tokens, e.reused_prompt_tokens) == (142, 3 * 142)
    assert e.value is None


def test_greedy_is_one_sample_at_temperature_zero(server):
    s = server()
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url), task="countdown")  # the only model
    [e] = model.expand([PROMPT], 4, greedy=True)
    assert s.requests[0]["n"] == 1 and s.requests[0]["temperature"] == 0.0
    assert e.steps == [RECORDED["choices"][0]["text"]] and e.reused_prompt_tokens == 0


def test_server_refusing_n_gets_parallel_single_requests(server):
    s = server(refuse_n=True)
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url, model="smollm2", concurrency=3),
                            task="countdown")
    first = model.expand([PROMPT, PROMPT + "13 - 9 = 4 (left: 4 4 10)\n"], 4)
    assert [r["n"] for r in s.requests].count(4) == 1  # probed once, then remembered
    assert sorted(r["n"] for r in s.requests) == [1] * 8 + [4]
    assert model.use_n is False
    for e in first:
        assert (e.prompt_tokens, e.reused_prompt_tokens) == (4 * 142, 0)  # no cache reported
        assert 1 <= len(e.steps) <= 3 and e.generated_tokens > 0
    s.requests.clear()
    model.expand([PROMPT], 2)
    assert [r["n"] for r in s.requests] == [1, 1]


def test_busy_server_is_retried(server):
    s = server(busy=2)
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url, backoff=0.01), task="countdown")
    [e] = model.expand([PROMPT], 4)
    assert len(s.requests) == 3 and e.generated_tokens == 105


def test_judge_value_from_top_logprobs(server):
    s = server()
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url, value="judge"), task="countdown")
    [v] = model.value([PROMPT])
    assert v.value == pytest.approx(0.6 / 0.8) and v.prompt_tokens == 160
    assert s.requests[0]["prompt"].endswith("Answer yes or no.\nAnswer:")
    [e] = model.expand([PROMPT], 4)
    assert e.value == pytest.approx(0.75) and e.prompt_tokens == 142 + 160


def test_search_and_baselines_run_over_http(server):
    s = server()
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url), task="countdown")
    problems = [Problem.make([4, 9, 10, 13], 24), Problem.make([2, 3, 5], 11)]
    for method in ("greedy", "best-of-n", "mcts"):
        report = evaluate(TASK, model, problems, MethodConfig(method=method, budget=6, k=4))
        assert report["total"] == 2 and report["model_calls"] >= 1
        assert report["generated_tokens"] > 0


# -- errors: one line each ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError) as e:
        OpenAIStepModel(OpenAIConfig(base_url=url))
    assert one_line(e.value).startswith(f"cannot reach {url}")


def test_unknown_model(server):
    s = server(models=("smollm2", "qwen"))
    with pytest.raises(BackendError) as e:
        OpenAIStepModel(OpenAIConfig(base_url=s.url, model="llama-70b"))
    assert "does not serve model 'llama-70b' (it serves: smollm2, qwen)" in one_line(e.value)
    with pytest.raises(BackendError, match="serves 2 models"):
        OpenAIStepModel(OpenAIConfig(base_url=s.url))


def test_response_without_logprobs(server):
    s = server(no_logprobs=True)
    model = OpenAIStepModel(OpenAIConfig(base_url=s.url), task="countdown")
    with pytest.raises(BackendError) as e:
        model.expand([PROMPT], 4)
    assert "no log-probabilities" in one_line(e.value)


def test_server_error_after_retries(server):
    s = server(status=503)
    with pytest.raises(BackendError) as e:
        OpenAIStepModel(OpenAIConfig(base_url=s.url, retries=2, backoff=0.01)) \
            .expand([PROMPT], 1)
    assert "answered 503 (engine overloaded)" in one_line(e.value)
    assert len(s.requests) == 3


def test_instruction_examples_are_valid_steps():
    from lmzero.tasks import load_task
    for name in ("countdown", "game24"):
        task = load_task(name)
        for block in task.instruction.split("\n\n")[1:]:
            head, *steps = block.split("\n")
            numbers, target = head.split(" -> ")
            state = task.initial_state(Problem.make(map(int, numbers.split()), int(target)))
            for step in steps:
                state = task.apply(state, step)
                assert state.error is None, (block, state.error)
            assert task.solved(state) and steps == list(state.steps)


# -- specs and the other backends' edges --------------------------------------------------------

@pytest.mark.parametrize("spec", ["gpt4", "hf:", "openai:127.0.0.1:8000#m", "torch:x", ""])
def test_bad_specs_name_the_accepted_forms(spec):
    with pytest.raises(ValueError) as e:
        parse_spec(spec)
    assert "openai:http://HOST:PORT/v1#MODEL" in one_line(e.value)


def test_openai_spec_loads_and_rejects_unknown_options(server):
    s = server()
    model = load_model(f"openai:{s.url}#smollm2", "countdown", max_step_tokens=20)
    assert model.model == "smollm2" and model.config.max_step_tokens == 20
    with pytest.raises(ValueError) as e:
        load_model(f"openai:{s.url}#smollm2", "countdown", colour="red")
    assert "colour" in one_line(e.value)


def test_vllm_without_vllm_names_the_extra():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed here")
    except ImportError:
        pass
    with pytest.raises(BackendError) as e:
        load_model("vllm:HuggingFaceTB/SmolLM2-135M-Instruct", "countdown")
    assert "pip install 'lmzero[vllm]'" in one_line(e.value)


def test_hf_spec_missing_file_is_one_line(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(ValueError) as e:
        load_model(f"hf:{tmp_path / 'nothing.gguf'}", "countdown")
    assert "no such model directory or GGUF file" in one_line(e.value)


def test_vllm_backend_against_a_stub_engine(monkeypatch, tmp_path):
    """The vllm backend's parsing and accounting, with a stand-in for the `vllm` package
    (vLLM itself needs a GPU: bench/gpu/check_vllm.sh runs the real one)."""
    import sys
    from types import SimpleNamespace as NS

    calls = {}

    class StubLLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def get_tokenizer(self):
            return None

        def generate(self, prompts, params, use_tqdm=False):
            calls.setdefault("generate", []).append((prompts, params))
            if params["max_tokens"] == 1:  # the judge
                tops = {1: NS(logprob=math.log(0.3), decoded_token=" yes"),
                        2: NS(logprob=math.log(0.1), decoded_token=" No")}
                return [NS(prompt_token_ids=[0] * 60, num_cached_tokens=48,
                           outputs=[NS(logprobs=[tops])]) for _ in prompts]
            samples = [NS(text="7 + 2 = 9 (left: 5 9)", token_ids=[1] * 12,
                          cumulative_logprob=-6.0, finish_reason="stop"),
                       NS(text="7 + 2 = 9 (left: 5 9)", token_ids=[1] * 12,
                          cumulative_logprob=-3.0, finish_reason="stop"),
                       NS(text="9 * 5 = ", token_ids=[1] * 20, cumulative_logprob=-2.0,
                          finish_reason="length")][:params["n"]]
            return [NS(prompt_token_ids=[0] * 50, num_cached_tokens=30, outputs=samples)
                    for _ in prompts]

        def apply_model(self, fn):
            model = NS(load_weights=lambda items: calls.setdefault("loaded", list(items)))
            return [fn(model)]

        def reset_prefix_cache(self):
            calls["reset"] = True

    monkeypatch.setitem(sys.modules, "vllm", NS(LLM=StubLLM, SamplingParams=lambda **kw: kw))
    model = load_model("vllm:some/model", "countdown", value="judge")
    assert calls["init"]["enable_prefix_caching"] is True
    [e] = model.expand([PROMPT], 3)
    prompts, params = calls["generate"][0]
    assert params["n"] == 3 and params["stop"] == ["\n"] and params["logprobs"] == 0
    assert prompts == [TASK.instruction + "\n\n" + PROMPT]
    assert e.steps == ["7 + 2 = 9 (left: 5 9)"] and e.logprobs == [pytest.approx(-0.25)]
    assert e.generated_tokens == 44 and e.value == pytest.approx(0.75)
    assert (e.prompt_tokens, e.reused_prompt_tokens) == (50 - 30 + 60 - 48, 30 + 2 * 50)
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    save_file({"w": torch.ones(2)}, str(tmp_path / "model.safetensors"))
    model.reload_weights(tmp_path)
    assert [k for k, _ in calls["loaded"]] == ["w"] and calls["reset"]
