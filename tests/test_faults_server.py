"""A server that fails during a run (tests/hostile_server.py, one fault per mode): the backend
turns every fault into one BackendError naming the endpoint and the field, `lmzero eval` and
`lmzero solve` into one line on stderr and exit code 1, and Ctrl-C while requests hang into
"aborted" and exit code 130 at once.

Three layers, fastest first: the parsers on malformed bodies (no server); the backend under a
real search against every mode (in-process, retries cut to one); the command line as a user runs
it (a subprocess per mode, ~3 s each: three modes and Ctrl-C in the quick tier, the rest slow).
"""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from lmzero.eval.reasoning import MethodConfig, evaluate
from lmzero.models.lm_steps import BackendError
from lmzero.models.openai_answers import parse_completion, parse_models
from lmzero.models.openai_backend import OpenAIConfig, OpenAIStepModel, run_parallel
from lmzero.tasks import load_task
from lmzero.tasks.arith import Problem
from tests.hostile_server import MODES, hostile_server

GAME24 = load_task("game24")
PROBLEMS = [Problem.make([4, 9, 10, 13], 24), Problem.make([1, 2, 3, 4], 24)]
URL = "http://127.0.0.1:1/v1/completions"
SAYS = {  # what the error line says about each mode's fault, after "URL/completions: "
    "http500": "the server answered 500 (engine crashed: CUDA error)",
    "http400": "the server answered 400 (This model's maximum context length is 2048 tokens)",
    "http401": "the server answered 401 (Incorrect API key provided)",
    "not_json": "the answer is not JSON ('<html><body><h1>502 Bad Gateway</h1></body></html>')",
    "json_list": "the answer is a JSON list, not an object",
    "empty_choices": "choices is [], not a non-empty list",
    "choices_not_list": "choices is {'0': {'text'",
    "logprob_string": "choices[0].logprobs.token_logprobs[3] is 'abc', not a number",
    "logprob_nan": "choices[0].logprobs.token_logprobs[3] is nan, not a log-probability",
    "usage_wrong": "usage is a JSON list, not an object",
    "text_not_string": "choices[0].text is 12345, not a string",
    "truncated": "the connection broke mid-answer (IncompleteRead)",
    "fail_after_n": "the server answered 500 (engine crashed: CUDA error)",
    "hang": "no answer within 0.5 s (tried 2 times)",
}
RUN_FAULTS = [m for m in MODES if m not in ("ok", "hang", "models_wrong")]
QUICK = ("http500", "logprob_string", "fail_after_n")  # retried, a bad field, mid-run


def one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text and len(text) < 300, text
    return text


# -- the parsers, on malformed bodies ------------------------------------------------------------

def choice(**changes) -> dict:
    good = {"text": "13 - 9 = 4 (left: 4 4 10)", "finish_reason": "stop", "logprobs": {
        "tokens": ["13", " -", "\n"], "token_logprobs": [-0.5, -0.25, None],
        "top_logprobs": [{" yes": math.log(0.5), " no": math.log(0.25)}, None, None]}}
    return {**good, **changes}


def with_logprobs(**changes) -> dict:
    return choice(logprobs={**choice()["logprobs"], **changes})


@pytest.mark.parametrize("body, says", [
    ([1, 2], "the answer is a JSON list, not an object"),
    (None, "the answer is a JSON null, not an object"),
    ({"object": "text_completion"}, "choices is missing, not a non-empty list"),
    ({"choices": "none"}, "choices is 'none', not a non-empty list"),
    ({"choices": [choice(), 7]}, "choices[1] is a JSON number, not an object"),
    ({"choices": [choice(text=None)]}, "choices[0].text is None, not a string"),
    ({"choices": [choice(finish_reason=3)]}, "choices[0].finish_reason is 3, not a string"),
    ({"choices": [choice(logprobs=None)]}, "choices[0] has no log-probabilities"),
    ({"choices": [choice(logprobs=[-1.0])]}, "choices[0].logprobs is a JSON list, not an "
                                             "object"),
    ({"choices": [with_logprobs(token_logprobs="-1")]},
     "choices[0].logprobs.token_logprobs is '-1', not a list"),
    ({"choices": [with_logprobs(token_logprobs=[-1.0, True])]},
     "choices[0].logprobs.token_logprobs[1] is True, not a number"),
    ({"choices": [with_logprobs(token_logprobs=[-math.inf])]},
     "choices[0].logprobs.token_logprobs[0] is -inf, not a log-probability"),
    ({"choices": [with_logprobs(token_logprobs=[-10 ** 400])]},
     "token_logprobs[0] is -100000000"),  # 401 digits: not a float either
    ({"choices": [with_logprobs(token_logprobs=[800.0])]}, "[0] is 800.0, not a log-prob"),
    ({"choices": [with_logprobs(top_logprobs=[{" yes": "high"}])]},
     "choices[0].logprobs.top_logprobs[0][' yes'] is 'high', not a number"),
    ({"choices": [choice()], "usage": "12 tokens"}, "usage is a JSON string, not an object"),
    ({"choices": [choice()], "usage": {"prompt_tokens": -1}},
     "usage.prompt_tokens is -1, not a token count"),
    ({"choices": [choice()], "usage": {"completion_tokens": 2.5}},
     "usage.completion_tokens is 2.5, not a token count"),
    ({"choices": [choice()], "usage": {"prompt_tokens": 5,
                                       "prompt_tokens_details": {"cached_tokens": 9}}},
     "usage.prompt_tokens_details.cached_tokens is 9, more than usage.prompt_tokens (5)"),
])
def test_malformed_completion_is_one_error_naming_the_field(body, says):
    with pytest.raises(BackendError) as e:
        parse_completion(body, URL)
    assert one_line(e.value).startswith(f"{URL}: ") and says in str(e.value)


def test_wellformed_completion_parses():
    cut = choice(finish_reason="length")
    answer = parse_completion({"choices": [choice(), cut], "usage": {
        "prompt_tokens": 40, "completion_tokens": 6, "prompt_tokens_details": {
            "cached_tokens": 32}}}, URL)
    first, second = answer.samples
    assert (first.step, first.logprob, first.tokens) == ("13 - 9 = 4 (left: 4 4 10)", -0.75, 2)
    assert second.step is None  # cut off at max_tokens: proposes nothing
    assert first.top == {" yes": math.log(0.5), " no": math.log(0.25)}
    assert (answer.prompt_tokens, answer.cached_tokens, answer.completion_tokens) == (40, 32, 6)
    bare = parse_completion({"choices": [choice(logprobs={"token_logprobs": [-1, -2]})],
                             "usage": None}, URL)
    assert (bare.prompt_tokens, bare.completion_tokens, bare.samples[0].top) == (0, 2, {})


@pytest.mark.parametrize("body, says", [
    ({"data": {"id": "m"}}, "data is {'id': 'm'}, not a list of models"),
    ({"object": "list"}, "data is missing, not a list of models"),
    ({"data": [{"name": "m"}]}, "data[0].id is missing, not a string"),
    ("ok", "the answer is a JSON string, not an object"),
])
def test_malformed_model_list_is_one_error(body, says):
    with pytest.raises(BackendError) as e:
        parse_models(body, "http://h/v1/models")
    assert one_line(e.value) == f"http://h/v1/models: {says}"
    assert parse_models({"data": [{"id": "a"}, {"id": "b"}]}, "u") == ["a", "b"]


def test_run_parallel_keeps_order_and_raises_the_first_failure():
    assert run_parallel(lambda x: x * x, [3, 1, 2], 2) == [9, 1, 4]
    assert run_parallel(str, [], 4) == []
    with pytest.raises(ZeroDivisionError):
        run_parallel(lambda x: 1 / x, [1, 0, 2], 2)


# -- the backend under a search, against every mode ----------------------------------------------

def search(url: str) -> dict:
    """Two Game of 24 puzzles by MCTS through the backend: one retry, no waiting, 0.5 s timeout."""
    model = OpenAIStepModel(OpenAIConfig(base_url=url, retries=1, backoff=0.0, timeout=0.5),
                            task=GAME24)
    return evaluate(GAME24, model, PROBLEMS, MethodConfig(method="mcts", budget=4, k=2))


def test_ok_server_serves_a_search():
    with hostile_server("ok") as server:
        report = search(server.url)
    assert report["total"] == 2 and report["model_calls"] == 4.0
    assert server.bodies[0]["n"] == 2 and server.bodies[0]["logprobs"] == 1


@pytest.mark.parametrize("mode", [m for m in MODES if m != "ok"])
def test_every_fault_is_one_backend_error(mode):
    with hostile_server(mode) as server:
        with pytest.raises(BackendError) as e:
            search(server.url)
    where = "/models" if mode == "models_wrong" else "/completions"
    says = SAYS.get(mode, "data is {'id': 'hostile', 'object': 'model'}, not a list of models")
    assert one_line(e.value).startswith(f"{server.url}{where}: {says}")
    tries = {"http500": 2, "truncated": 2, "hang": 2, "http401": 1}  # the first request fails
    if mode in tries:  # 5xx, timeouts and cut-offs are tried once more; a refusal (4xx) is not
        assert server.completions == tries[mode]
    if mode == "fail_after_n":  # 3 answered, then at least one failed twice
        assert server.completions >= 3 + 2


def test_ctrl_c_leaves_expand_while_requests_hang():
    """KeyboardInterrupt reaches the caller within a poll, though the signal may land on a
    request thread and every request still hangs (the 30 s timeout never comes into it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with hostile_server("hang") as server:
            model = OpenAIStepModel(OpenAIConfig(base_url=server.url, timeout=30.0),
                                    task=GAME24)
            prompts = [GAME24.prompt(GAME24.initial_state(p)) for p in PROBLEMS]

            def interrupt():
                if server.wait_for(2):  # both parallel requests are hanging
                    os.kill(os.getpid(), signal.SIGINT)

            threading.Thread(target=interrupt, daemon=True).start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                model.expand(prompts, 1, greedy=True)
            assert time.monotonic() - started < 5.0  # the correctness bound, not a speed one
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the command line ----------------------------------------------------------------------------

def lmzero(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def problems(tmp_path):
    """Two puzzles as a file: drawing the held-out split would cost seconds per command."""
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"numbers": list(p.numbers), "target": p.target}) + "\n"
                            for p in PROBLEMS))
    return path


def eval_args(url: str, problems, *more: str) -> list[str]:
    return ["eval", "game24", "--model", f"openai:{url}", "--problems", str(problems),
            "--budget", "4", "--k", "2", "--json", *more]


def assert_one_line(result: subprocess.CompletedProcess, code: int, says: str) -> None:
    """Exit `code`, exactly one `lmzero: error:` line on stderr saying `says`, nothing else."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("lmzero: error: ")
    assert says in result.stderr
    assert result.stdout == ""  # no report that could pass for a result


@pytest.mark.parametrize("mode", [m if m in QUICK else pytest.param(m, marks=pytest.mark.slow)
                                  for m in RUN_FAULTS])
def test_eval_against_a_failing_server_is_one_line(mode, problems):
    with hostile_server(mode) as server:
        result = lmzero(*eval_args(server.url, problems))
    assert_one_line(result, 1, f"{server.url}/completions: {SAYS[mode]}")
    assert server.completions >= (4 if mode == "fail_after_n" else 1)  # failed mid-run


@pytest.mark.slow
def test_solve_against_a_failing_server_is_one_line():
    with hostile_server("logprob_nan") as server:
        result = lmzero("solve", "game24", "4 9 10 13", "--model", f"openai:{server.url}",
                        "--budget", "4")
    assert_one_line(result, 1, f"{server.url}/completions: {SAYS['logprob_nan']}")


@pytest.mark.slow
def test_eval_against_a_good_server_succeeds(problems):
    """The control: the same command against mode 'ok' prints its report."""
    with hostile_server("ok") as server:
        result = lmzero(*eval_args(server.url, problems))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    report = json.loads(result.stdout)
    assert report["total"] == 2 and report["model_calls"] == 4.0


@pytest.mark.slow
def test_a_bad_model_list_at_start_up_is_a_user_error(problems):
    """Met before any work, at the address the user typed: the --model spec is what to fix
    (like an unreachable server at start-up), so exit code 2."""
    with hostile_server("models_wrong") as server:
        result = lmzero(*eval_args(server.url, problems))
    assert_one_line(result, 2, f"{server.url}/models: data is {{'id': 'hostile'")
    assert server.completions == 0


def _sigint_state() -> str:
    """This process's SIGINT as the kernel sees it (a library may have changed it behind
    Python's back, and a child inherits an ignored or blocked signal)."""
    fields = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
                  if line.startswith(("SigIgn", "SigBlk")))
    return ", ".join(f"{k} {int(v, 16) >> (signal.SIGINT - 1) & 1}" for k, v in fields.items())


def test_ctrl_c_while_requests_hang_aborts_at_once(problems):
    """The user's report: two problems against a server that never answers survived two
    SIGINTs. Now one SIGINT while both requests hang ends the command with "aborted", 130."""
    with hostile_server("hang") as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "lmzero.cli", *eval_args(server.url, problems, "--method",
                                                             "greedy")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONFAULTHANDLER="1"))  # SIGABRT dumps its threads' stacks
        try:
            deadline = time.monotonic() + 60
            while not server.wait_for(2, timeout=0.2):  # both requests hanging
                assert process.poll() is None, process.communicate()[1]  # it failed instead
                assert time.monotonic() < deadline, "the command never sent its two requests"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=5)  # a correctness bound
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # where it hangs, for the failure message
            pytest.fail("no exit 5 s after SIGINT; SIGINT disposition here: "
                        f"{_sigint_state()}; the command's stacks:\n{process.communicate()[1]}")
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert "Traceback" not in stderr, stderr
    assert (process.returncode, stderr, stdout) == (130, "aborted\n", "")
