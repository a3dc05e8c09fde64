"""A child process in its own process group, stoppable as a whole."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after `grace_s`."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        # Children may outlive the leader: kill the group regardless.
        _signal_group(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %s) did not exit after SIGKILL", self.name, self.process.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def start_service(
    name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Service:
    """Start `argv` in a new session (its own process group), output to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
    return Service(name=name, process=process, log_path=log_path)


def wait_until(
    ready: Callable[[], bool], service: Service, timeout_s: float,
    on_tick: Callable[[float], None] | None = None, interval_s: float = 0.5,
) -> None:
    """Poll `ready()` until it is true; fail early if the service process exits."""
    started = time.monotonic()
    while True:
        if ready():
            return
        if not service.running():
            raise RuntimeError(
                f"{service.name} exited with code {service.process.returncode}; "
                f"last log lines:\n{service.log_tail()}"
            )
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise TimeoutError(
                f"{service.name} not ready after {timeout_s:.0f} s; see {service.log_path}"
            )
        if on_tick:
            on_tick(elapsed)
        time.sleep(interval_s)
