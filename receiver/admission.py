"""Admission control: how many exports run at once and how many request bytes they hold.

Every export, over gRPC or HTTP, enters before its body is read and leaves once it is
answered. It enters when a slot is free (``max_concurrent_exports``) and its bytes fit in
the budget (``max_inflight_bytes``); otherwise it waits, first come first served, for at most
``max_wait_s``, and is then refused with :class:`Overloaded`, which the receivers answer
with a retry delay (gRPC ``RESOURCE_EXHAUSTED`` with ``RetryInfo``, HTTP 429 with
``Retry-After``). A body whose size is not known before it is read (every gRPC message, a
chunked or gzip HTTP body) reserves the request limit and gives back what it did not use once
it is read, so the bytes held never exceed the budget. An export alone is always admitted,
so one request of the maximum size gets through even when the budget is smaller.

Everything here runs on the event loop: no locks, and no waiting but on futures.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# Refused senders retry after between 1 and 2 times the base delay, so that a crowd refused
# together does not come back together.
_RETRY_JITTER = 1.0


class Overloaded(Exception):
    """The export could not be admitted in time: the sender should retry after a delay."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(eq=False, slots=True)
class _Waiter:
    size: int
    future: asyncio.Future[None]
    ticket: Ticket | None = None  # set for a ticket that grows


@dataclass(eq=False, slots=True)
class Ticket:
    """One admitted export: its slot and the bytes it holds."""

    control: AdmissionControl
    deadline: float
    held: int = 0
    released: bool = field(default=False)

    async def resize(self, size: int) -> None:
        """Hold ``size`` bytes from now on: give bytes back at once, or wait (until the
        deadline of this export's admission) for more. Raises Overloaded."""
        if size <= self.held:
            self.control._give_back(self, self.held - size)
            return
        await self.control._grow(self, size - self.held)


class AdmissionControl:
    """The budget of one server process, shared by both receivers and ``/v1/simulate``."""

    def __init__(
        self,
        *,
        max_inflight_bytes: int,
        max_concurrent_exports: int,
        max_wait_s: float,
        retry_after_s: float = 1.0,
    ) -> None:
        if max_inflight_bytes < 1 or max_concurrent_exports < 1 or max_wait_s < 0:
            raise ValueError("admission limits must be positive")
        self.max_inflight_bytes = max_inflight_bytes
        self.max_concurrent_exports = max_concurrent_exports
        self.max_wait_s = max_wait_s
        self.retry_after_s = retry_after_s
        self.inflight_bytes = 0
        self.exports = 0
        self._entering: deque[_Waiter] = deque()
        self._growing: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        """Exports waiting to enter or to hold more bytes."""
        return len(self._entering) + len(self._growing)

    def retry_after(self) -> float:
        """The delay to tell a refused sender, in seconds (never below the base delay)."""
        return self.retry_after_s * (1.0 + random.random() * _RETRY_JITTER)

    @asynccontextmanager
    async def export(self, size: int) -> AsyncIterator[Ticket]:
        """Hold a slot and ``size`` bytes for the body of the block. Raises Overloaded."""
        ticket = await self.enter(size)
        try:
            yield ticket
        finally:
            self.leave(ticket)

    async def enter(self, size: int) -> Ticket:
        """Admit one export holding ``size`` bytes, waiting up to ``max_wait_s``; call
        ``leave`` with the ticket afterwards. Raises Overloaded."""
        loop = asyncio.get_running_loop()
        ticket = Ticket(self, deadline=loop.time() + self.max_wait_s)
        if not self._entering and not self._growing and self._may_enter(size):
            self._admit(ticket, size)
            return ticket
        waiter = _Waiter(size, loop.create_future())
        self._entering.append(waiter)
        await self._wait(waiter, self._entering, ticket.deadline)
        ticket.held = size  # counted when it was granted
        return ticket

    def leave(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        ticket.released = True
        self.exports -= 1
        self.inflight_bytes -= ticket.held
        ticket.held = 0
        self._wake()

    def _may_enter(self, size: int) -> bool:
        return self.exports < self.max_concurrent_exports and (
            self.inflight_bytes == 0 or self.inflight_bytes + size <= self.max_inflight_bytes
        )

    def _may_grow(self, ticket: Ticket, extra: int) -> bool:
        return (
            self.inflight_bytes == ticket.held
            or self.inflight_bytes + extra <= self.max_inflight_bytes
        )

    def _admit(self, ticket: Ticket, size: int) -> None:
        self.exports += 1
        self.inflight_bytes += size
        ticket.held = size

    async def _grow(self, ticket: Ticket, extra: int) -> None:
        if not self._growing and self._may_grow(ticket, extra):
            ticket.held += extra
            self.inflight_bytes += extra
            return
        waiter = _Waiter(extra, asyncio.get_running_loop().create_future(), ticket)
        self._growing.append(waiter)
        await self._wait(waiter, self._growing, ticket.deadline)

    def _give_back(self, ticket: Ticket, size: int) -> None:
        if size:
            ticket.held -= size
            self.inflight_bytes -= size
            self._wake()

    async def _wait(self, waiter: _Waiter, queue: deque[_Waiter], deadline: float) -> None:
        """Wait for ``_wake`` to grant ``waiter``; Overloaded when the deadline comes first."""
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            if waiter.future.done():
                return  # granted in the same turn of the loop as the timeout
            queue.remove(waiter)
            waiter.future.cancel()
            self._wake()  # a large waiter at the head may have held back smaller ones
            raise Overloaded(self._busy_message(), self.retry_after()) from None
        except asyncio.CancelledError:
            if waiter.future.done():
                self._undo_grant(waiter)
            else:
                queue.remove(waiter)
                waiter.future.cancel()
                self._wake()
            raise

    def _undo_grant(self, waiter: _Waiter) -> None:
        """The waiter was granted, but its caller went away before taking it."""
        if waiter.ticket is None:
            self.exports -= 1
            self.inflight_bytes -= waiter.size
        else:
            waiter.ticket.held -= waiter.size
            self.inflight_bytes -= waiter.size
        self._wake()

    def _wake(self) -> None:
        """Grant waiters in order while they fit: growing exports first (they already hold
        a slot, and finishing them frees it), then new ones."""
        while self._growing:
            head = self._growing[0]
            assert head.ticket is not None
            if not self._may_grow(head.ticket, head.size):
                return  # new exports wait too: the growing one needs the bytes first
            self._growing.popleft()
            head.ticket.held += head.size
            self.inflight_bytes += head.size
            head.future.set_result(None)
        while self._entering and self._may_enter(self._entering[0].size):
            head = self._entering.popleft()
            # The ticket is filled in by ``enter`` once it resumes; count the grant now so
            # that the next waiter sees it.
            self.exports += 1
            self.inflight_bytes += head.size
            head.future.set_result(None)

    def _busy_message(self) -> str:
        return (
            f"the server is busy ({self.exports} exports and {self.inflight_bytes} request "
            f"bytes in flight; limits {self.max_concurrent_exports} and "
            f"{self.max_inflight_bytes}) and nothing was stored; retry later"
        )
