"""Evaluating CEL conditions in a child process, so that a slow one can be stopped.

`common-expression-language` evaluates in native (Rust) code. A Python thread cannot
interrupt it, and a timeout on a thread would leave the evaluation running and holding a
core. So the conditions run in one long-lived child process (`python -m
orcai.policy.sandbox`, which imports only `cel`), fed JSON lines on its stdin:

    parent -> child   {"condition": "...", "facts": [{...}, {...}]}
    child -> parent   one line per facts: {"value": true} | {"error": "TypeError", "message": "..."}
                      or a single {"compile_error": "..."}

The parent waits at most `budget_s` for each answer. Past it, the child is killed (SIGKILL:
the only thing that stops native code for sure) and `ConditionTimeout` is raised; the next
call starts a fresh child. Facts are plain JSON (str, int, double, bool, lists, maps), so
nothing but data crosses the pipe. One evaluator per process; calls are serialised by a lock.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time

from orcai.errors import ConditionTimeout

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 1.0
START_BUDGET_S = 30.0  # starting Python and importing cel on a busy 2-core machine


class Sandbox:
    def __init__(self):
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._buffer = b""
        self._fresh = False  # a child just started: its first answer may also wait for `import cel`

    def run(self, condition: str, facts: list[dict], budget_s: float = DEFAULT_BUDGET_S) -> list[dict]:
        """One answer per facts ({"value": …} or {"error": class, "message": …}), or
        [{"compile_error": …}]; raises ConditionTimeout when one evaluation exceeds `budget_s`."""
        if not facts:
            return []
        with self._lock:
            process = self._ensure_started()
            line = json.dumps({"condition": condition, "facts": facts}) + "\n"
            try:
                process.stdin.write(line.encode())
                process.stdin.flush()
            except (BrokenPipeError, OSError):
                self._stop()
                process = self._ensure_started()
                process.stdin.write(line.encode())
                process.stdin.flush()
            answers = []
            for _ in facts:
                answer = self._read_line(budget_s + (START_BUDGET_S if self._fresh else 0.0))
                self._fresh = False
                if answer is None:
                    self._stop()
                    raise ConditionTimeout(f"evaluation stopped after {budget_s:g} s (the time budget): "
                                           "the condition is too expensive")
                answers.append(answer)
                if "compile_error" in answer:
                    break
            return answers

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure_started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._buffer = b""
            self._process = subprocess.Popen(
                [sys.executable, "-m", "orcai.policy.sandbox"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
            self._fresh = True
        return self._process

    def _read_line(self, timeout_s: float) -> dict | None:
        deadline = time.monotonic() + timeout_s
        stream = self._process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:  # the child died (out of memory, killed): treat as a failed evaluation
                    return {"error": "RuntimeError", "message": "the evaluator process stopped"}
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                stream.close()
            self._process = None
            self._buffer = b""


_shared = Sandbox()


def run(condition: str, facts: list[dict], budget_s: float = DEFAULT_BUDGET_S) -> list[dict]:
    """`Sandbox.run` on this process's shared evaluator."""
    return _shared.run(condition, facts, budget_s)


def _answer(program, facts: dict) -> dict:
    try:
        value = program.execute(facts)
    except Exception as exc:  # the extension raises TypeError, KeyError, RuntimeError, ValueError
        return {"error": type(exc).__name__, "message": str(exc).strip() or type(exc).__name__}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"value": value}
    return {"value": repr(value), "type": {list: "list", dict: "map"}.get(type(value), type(value).__name__)}


def _serve() -> None:  # the child: read a request, compile, answer each facts, flush
    import cel
    for line in sys.stdin:
        request = json.loads(line)
        try:
            program = cel.compile(request["condition"])
        except Exception as exc:
            print(json.dumps({"compile_error": str(exc)}), flush=True)
            continue
        for facts in request["facts"] or [{}]:
            print(json.dumps(_answer(program, facts)), flush=True)


if __name__ == "__main__":
    _serve()
