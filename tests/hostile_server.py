"""An OpenAI-compatible server on 127.0.0.1 that fails on purpose, one fault per `mode`.

`/v1/models` answers normally in every mode but "models_wrong", so the fault meets a client that
got past start-up: it happens during the run, where a user's report found tracebacks. Each
fault is one way a real server, proxy or network answers what the API does not promise:

    ok                well-formed completions with log-probs (n choices, usage), judge included
    http500           500 with the server's error text (and Retry-After: 0, so retries are quick)
    http400 http401   a final client error (the prompt refused, a bad API key)
    not_json          200 with an HTML page (a proxy's)
    json_list         200 with JSON that is not an object
    empty_choices     `choices: []`
    choices_not_list  `choices` an object
    logprob_string    a token log-prob that is the string 'abc'
    logprob_nan       a token log-prob that is NaN
    usage_wrong       `usage` a list
    text_not_string   a choice's `text` a number
    hang              never answers, until the server is closed
    truncated         Content-Length 100 bytes longer than the body, then the connection closes
    fail_after_n      `ok` for the first `fail_after` completions, then 500 (a server that dies
                      mid-run)
    models_wrong      `/v1/models` answers `data` as an object (a fault met at start-up)

    with hostile_server("logprob_nan") as server:
        run(["lmzero", "eval", "game24", "--model", f"openai:{server.url}"])
        assert server.completions >= 1

The context manager yields the server rather than only its URL: tests also wait on
`wait_for(n)` (n completion requests received) before sending Ctrl-C to a hung client.
"""

from __future__ import annotations

import json
import math
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

MODES = ("ok", "http500", "http400", "http401", "not_json", "json_list", "empty_choices",
         "choices_not_list", "logprob_string", "logprob_nan", "usage_wrong", "text_not_string",
         "hang", "truncated", "fail_after_n", "models_wrong")
MODEL = "hostile"
STEP = "4 + 9 = 13 (left: 10 13 13)"
"""What every `ok` sample says: a legal first step of Game of 24's 4 9 10 13, not a solution."""


class HostileServer:
    """The server of one `mode` (module doc), serving on a background thread until close()."""

    def __init__(self, mode: str, fail_after: int = 3):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode, self.fail_after = mode, fail_after
        self.completions = 0
        """Completion requests received so far (counted before answering)."""
        self.bodies: list[dict] = []
        self._arrived = threading.Condition()
        self._closing = threading.Event()  # releases the requests that `hang` holds
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True  # a held request never blocks close()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        # checks for close() every 20 ms: the default 0.5 s would add 0.5 s to every test
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        """Until `count` completion requests have arrived (False if `timeout` passed first)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.completions >= count, timeout)

    def close(self) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def arrived(self, body: dict) -> str:
        """Count a completion request; the mode its answer takes (fail_after_n: ok, then 500)."""
        with self._arrived:
            self.completions += 1
            self.bodies.append(body)
            self._arrived.notify_all()
            late = self.completions > self.fail_after
        if self.mode == "fail_after_n":
            return "http500" if late else "ok"
        return self.mode

    def hold(self) -> None:
        self._closing.wait()


@contextmanager
def hostile_server(mode: str, fail_after: int = 3) -> Iterator[HostileServer]:
    """A HostileServer of `mode`, closed afterwards (its `url` is the API root, /v1)."""
    server = HostileServer(mode, fail_after)
    try:
        yield server
    finally:
        server.close()


def completion(body: dict) -> dict:
    """A well-formed answer to a /completions request: `n` choices of STEP (or ' yes' to a
    one-token judge question), each token's log-prob and top log-probs, and usage."""
    text = " yes" if body.get("max_tokens") == 1 else STEP
    tokens = [text] if text == " yes" else [*text.split(" "), "\n"]
    logprobs = [math.log(0.6) if text == " yes" else -0.1] * len(tokens)
    tops = [{t: lp, " no": math.log(0.3)} for t, lp in zip(tokens, logprobs)]
    choice = {"text": text, "finish_reason": "stop", "logprobs": {
        "tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops,
        "text_offset": list(range(len(tokens)))}}
    n = body.get("n", 1)
    return {"object": "text_completion", "model": MODEL,
            "choices": [dict(choice, index=i) for i in range(n)],
            "usage": {"prompt_tokens": 50, "completion_tokens": len(tokens) * n,
                      "total_tokens": 50 + len(tokens) * n}}


def faulty(mode: str, body: dict) -> tuple[int, object]:
    """(status, JSON body) of a JSON-shaped fault: a good answer with one field broken."""
    errors = {"http500": (500, "engine crashed: CUDA error"),
              "http400": (400, "This model's maximum context length is 2048 tokens"),
              "http401": (401, "Incorrect API key provided")}
    if mode in errors:
        status, message = errors[mode]
        return status, {"error": {"message": message, "type": "server_error", "code": status}}
    answer = completion(body)
    first = answer["choices"][0]
    if mode == "json_list":
        return 200, [1, 2, 3]
    if mode == "empty_choices":
        answer["choices"] = []
    elif mode == "choices_not_list":
        answer["choices"] = {"0": first}
    elif mode in ("logprob_string", "logprob_nan"):
        first["logprobs"]["token_logprobs"][3] = "abc" if mode == "logprob_string" else math.nan
    elif mode == "usage_wrong":
        answer["usage"] = [50, 12]
    elif mode == "text_not_string":
        first["text"] = 12345
    return 200, answer


def _handler(server: HostileServer):
    """The request handler class bound to `server`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.rstrip("/") != "/v1/models":
                return self._json(404, {"error": {"message": f"no route {self.path}"}})
            models = [{"id": MODEL, "object": "model"}]
            data = models[0] if server.mode == "models_wrong" else models
            self._json(200, {"object": "list", "data": data})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            mode = server.arrived(body)
            if mode == "hang":
                return server.hold()  # then the connection closes without an answer
            if mode == "not_json":
                return self._raw(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                                 "text/html")
            if mode == "truncated":
                data = json.dumps(completion(body)).encode()
                return self._raw(200, data, "application/json", len(data) + 100)
            status, answer = (200, completion(body)) if mode == "ok" else faulty(mode, body)
            self._json(status, answer)

        def _json(self, status: int, body: object):
            self._raw(status, json.dumps(body).encode(), "application/json")  # NaN as NaN

        def _raw(self, status: int, data: bytes, kind: str, length: int | None = None):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data) if length is None else length))
            if status >= 500:
                self.send_header("Retry-After", "0")  # the client's retries take no time
            self.end_headers()
            self.wfile.write(data)

    return Handler
