"""A loopback TCP proxy that delays what clients send by a fixed time plus jitter, so
LocalStack's answers arrive as a remote service's would: `make bench` runs the idempotent
batch comparison through it at several delays.

    python tools/bench/latency_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS JITTER_MS

Each connection is proxied on its own, so requests on different connections wait their
delay concurrently, as parallel round trips to DynamoDB do. On one connection, bytes keep
their order: each chunk leaves at max(arrival + delay + jitter, the previous chunk's
departure), so a request split into several reads is delayed once, not once per read.
Prints `ready` on stdout once it listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys


async def pipe(reader, writer, delay: float, jitter: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    last_due = 0.0
    try:
        while data := await reader.read(65536):
            last_due = max(loop.time() + delay + random.uniform(0, jitter), last_due)
            queue.put_nowait((last_due, data))
    finally:
        queue.put_nowait((0.0, None))
        try:
            await sender
        finally:
            writer.close()


async def main(listen: int, upstream: int, delay_ms: float, jitter_ms: float) -> None:
    delay, jitter = delay_ms / 1000, jitter_ms / 1000

    async def handle(client_reader, client_writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        # the delay applies to requests only: one added round trip per request
        await asyncio.gather(
            pipe(client_reader, up_writer, delay, jitter),
            pipe(up_reader, client_writer, 0.0, 0.0),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    port, upstream, delay_ms, jitter_ms = sys.argv[1:]
    asyncio.run(main(int(port), int(upstream), float(delay_ms), float(jitter_ms)))
