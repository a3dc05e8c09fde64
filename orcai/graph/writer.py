"""Graph writes in a thread of their own, so the caller prepares the next batch meanwhile.

A catch-up alternates reading a page from Airflow, building rows in Python and waiting for
the graph to write them; the graph's wait releases the GIL, so the reading and building
of batch k+1 can go on while the graph writes batch k. `BackgroundWriter` runs the writes
(jobs: plain callables) one at a time, in the order given, in one thread, with at most one
more waiting: the caller is never more than two batches ahead, and its memory stays at a
few batches.

- A job that fails stops the writer: the jobs after it are dropped, never run, so a
  checkpoint submitted after a batch is never saved unless that batch was written.
- The failure is raised once, in the caller's thread: by the next `submit`, else by `close`.
- `close` (and leaving the `with` block, also on the caller's own exception) waits for the
  jobs already submitted: each was a complete batch, as the serial loader would have written.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

_STOP = object()


class BackgroundWriter:
    def __init__(self, name: str = "graph-writer"):
        self._jobs: queue.Queue = queue.Queue(maxsize=1)  # one waiting, one being written
        self._error: BaseException | None = None
        self._raised = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            if self._error is None:  # after a failure, jobs are taken off the queue but not run
                try:
                    job()
                except BaseException as exc:  # handed to the caller's thread, raised there
                    self._error = exc

    def submit(self, job: Callable[[], object]) -> None:
        """Queue `job` after the ones submitted; waits while one is already waiting."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._raise_failure()
        self._jobs.put(job)

    def close(self) -> None:
        """Wait for every job submitted, then raise the failure if one failed (once)."""
        if not self._closed:
            self._closed = True
            self._jobs.put(_STOP)
            self._thread.join()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
