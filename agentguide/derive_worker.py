"""The derive worker: a process of its own that maps stored spans into runs and steps.

Started by ``agentguide serve``, so that deriving never holds up the event loop that answers
exports. It reads wake-ups from a pipe (one byte per commit, coalesced) and stops when the
pipe closes, which also happens when the server dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys

from agentguide.memory import tune_allocator
from storage.deriver import Deriver
from storage.store import Store

logger = logging.getLogger("agentguide.derive")

DATABASE_URL_ENV = "AGENTGUIDE_DERIVE_DATABASE_URL"
WAKE_FD_ENV = "AGENTGUIDE_DERIVE_WAKE_FD"


class DeriveWorker:
    """The server's handle on one derive worker process."""

    def __init__(self, database_url: str, log_level: str) -> None:
        self.database_url = database_url
        self.log_level = log_level
        self._process: subprocess.Popen[bytes] | None = None
        self._wake_fd: int | None = None

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        env = dict(os.environ)
        env[DATABASE_URL_ENV] = self.database_url
        env[WAKE_FD_ENV] = str(read_fd)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "agentguide.derive_worker", "--log-level", self.log_level],
            pass_fds=(read_fd,),
            env=env,
            start_new_session=True,  # a Ctrl-C reaches the server, which stops the worker
        )
        os.close(read_fd)
        self._wake_fd = write_fd
        logger.info("derive worker started (pid %d)", self._process.pid)

    def wake(self) -> None:
        if self._wake_fd is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._wake_fd, b"\x01")

    def restart_if_dead(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            logger.error(
                "derive worker exited with %s; starting a new one", self._process.returncode
            )
            self._close_pipe()
            self.start()

    def stop(self, timeout_s: float) -> None:
        """Close the pipe: the worker derives what is dirty, then exits."""
        self._close_pipe()
        if self._process is None:
            return
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("derive worker did not finish in %.0f s; stopping it", timeout_s)
            self._process.terminate()
            self._process.wait(10)

    def _close_pipe(self) -> None:
        if self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd = None


async def _run(database_url: str, wake_fd: int) -> None:
    store = await Store.open(database_url, max_size=2)
    deriver = Deriver(store)
    loop = asyncio.get_running_loop()
    os.set_blocking(wake_fd, False)

    def on_wake() -> None:
        try:
            data = os.read(wake_fd, 4096)
        except BlockingIOError:
            return
        if data:
            deriver.wake()
        else:
            loop.remove_reader(wake_fd)
            deriver.stop()

    loop.add_reader(wake_fd, on_wake)
    try:
        await deriver.run()
    finally:
        await store.close()


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="agentguide-derive-worker")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_allocator()
    database_url = os.environ.pop(DATABASE_URL_ENV)
    wake_fd = int(os.environ.pop(WAKE_FD_ENV))
    asyncio.run(_run(database_url, wake_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
