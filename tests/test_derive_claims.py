"""Which dirty traces a derive worker claims: its own shard's first; another shard's only when
no worker derives it now (a trace being derived is left to the worker that has it cached)."""

from __future__ import annotations

import asyncio

from storage.database import apply_migrations
from storage.derive_queue import PostgresDeriveQueue
from storage.locks import lock_traces
from storage.store import Store
from tests.support import PostgresServer

SHARD_0_TRACE = bytes(15) + b"\x00"  # get_byte(trace_id, 15) % 2 == 0
SHARD_0_OTHER = b"\x01" * 15 + b"\x02"


def test_another_shards_trace_is_left_to_the_worker_deriving_it(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    apply_migrations(database_url)

    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        store = await Store.open(database_url, max_size=3)
        queue = PostgresDeriveQueue(store.pool)
        try:
            async with store.pool.connection() as conn:
                for trace_id in (SHARD_0_TRACE, SHARD_0_OTHER):  # never derived: others may help
                    await conn.execute(
                        "INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns)"
                        " VALUES (%s, 1, 0, 0)",
                        (trace_id,),
                    )
            async with store.pool.connection() as owner, owner.transaction():
                await lock_traces(owner, [(1, SHARD_0_TRACE)])  # worker 0 derives it now
                async with store.pool.connection() as helper, helper.transaction():
                    helped = await queue.claim(helper, 10, (1, 2))
                async with store.pool.connection() as conn:
                    cursor = await conn.execute("SELECT trace_id FROM dirty_traces")
                    left = [bytes(row[0]) for row in await cursor.fetchall()]
            async with store.pool.connection() as helper, helper.transaction():
                later = await queue.claim(helper, 10, (1, 2))
            return [c.trace_id for c in helped], left, [c.trace_id for c in later]
        finally:
            await store.close()

    helped, left, later = asyncio.run(scenario())
    assert helped == [SHARD_0_OTHER], "the trace being derived is not taken"
    assert left == [SHARD_0_TRACE], "its mark stays in the queue for its worker"
    assert later == [SHARD_0_TRACE], "once free, another worker may help with it"
