"""From the sandbox's reply to one CallResult per call: decided here, in the parent, strictly.

A reply holds one frame per call, written by the trusted server inside the sandbox: the call's
index, the runner's wait status and CPU time, and the runner's bytes. Those bytes are the only
thing the candidate shapes, and they count only as `ok\\n<plain data>`, `error\\n<line>` or
`bad value\\n<line>` (or `syntax error\\n<line>`), from a runner that exited with status 0 within its CPU budget. Anything
else (a signal, another exit status, nothing, two results, junk) is not "ok". No exit status,
stdout marker or comparison made inside decides a verdict: callers compare `value` themselves.
"""

from __future__ import annotations

import os
import signal

from .jobs import CallResult, Limits
from .plain import PlainError, decode

CPU_SLACK = 0.05  # seconds: rusage granularity, so a call right at the budget is not failed


def call_results(reply: dict, n_calls: int, limits: Limits) -> list[CallResult]:
    """One CallResult per call, in order, from the server's reply to a job."""
    frames = reply.get("frames")
    results: list[CallResult] = []
    cpu_used = 0.0
    for frame in frames if type(frames) is list else []:
        if type(frame) is not dict or frame.get("i") != len(results) or len(results) >= n_calls:
            break  # out of order or one too many: nothing from here on is believed
        if "skipped" in frame:
            results.append(_skipped(frame["skipped"], results, limits))
            continue
        result, cpu_used = _call_result(frame, cpu_used, limits)
        results.append(result)
    missing = n_calls - len(results)
    return results + [CallResult("crash", detail="the sandbox sent no result for this call")
                      ] * missing


def _skipped(why, earlier: list[CallResult], limits: Limits) -> CallResult:
    if why == "syntax" and earlier and earlier[-1].status == "syntax error":
        return earlier[-1]
    if why == "wall":
        return CallResult("timeout", detail=f"wall clock limit {limits.wall_seconds} s")
    if why == "cpu":
        return CallResult("timeout", detail=f"CPU limit {limits.cpu_seconds} s (spent by this "
                                            f"or earlier calls)")
    if why == "output":
        return CallResult("no result", detail=f"output_bytes ({limits.output_bytes}) spent by "
                                              f"earlier calls")
    return CallResult("crash", detail="malformed frame from the sandbox")


def _call_result(frame: dict, cpu_used: float, limits: Limits) -> tuple[CallResult, float]:
    status, cpu, out = frame.get("status"), frame.get("cpu"), frame.get("out")
    if type(status) is not int or type(cpu) not in (int, float) or type(out) is not str:
        return CallResult("crash", detail="malformed frame from the sandbox"), cpu_used
    cpu_used += max(0.0, cpu)
    over_cpu = cpu_used > limits.cpu_seconds + CPU_SLACK
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or over_cpu:
            return CallResult("timeout", detail=f"CPU limit {limits.cpu_seconds} s"), cpu_used
        return CallResult("crash", detail=f"killed by {_signal_name(sig)}"), cpu_used
    if over_cpu:
        return CallResult("timeout", detail=f"CPU limit {limits.cpu_seconds} s"), cpu_used
    if frame.get("capped") is True:
        return CallResult("bad value", detail=f"result over the cap of {limits.output_bytes} "
                                              f"bytes"), cpu_used
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code != 0:
        return CallResult("crash", detail=f"exited with status {code} before returning"), cpu_used
    return _runner_message(out.encode("latin-1")), cpu_used


def _runner_message(out: bytes) -> CallResult:
    if not out:
        return CallResult("no result", detail="the program exited without returning")
    head, sep, payload = out.partition(b"\n")
    if not sep or head not in (b"ok", b"error", b"bad value", b"syntax error"):
        return CallResult("crash", detail="malformed result (forged, or more than one)")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return CallResult("crash", detail="malformed result (not UTF-8)")
    if head == b"ok":
        try:
            return CallResult("ok", value=decode(text))
        except PlainError as e:  # includes a second message glued after the first
            return CallResult("crash", detail=f"malformed result: {_line(str(e))}")
    return CallResult(head.decode(), detail=_line(text))


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _line(text) -> str:
    return " ".join(str(text)[:300].split())
