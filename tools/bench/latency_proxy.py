"""A loopback TCP proxy that delays what clients send by a fixed time plus jitter, so
LocalStack's answers arrive as a remote service's would: `make bench` runs the idempotent
batch comparison through it at several delays.

    python tools/bench/latency_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS JITTER_MS [LOG]

Each connection is proxied on its own, so requests on different connections wait their
delay concurrently, as parallel round trips to DynamoDB do. On one connection, bytes keep
their order: each chunk leaves at max(arrival + delay + jitter, the previous chunk's
departure), so a request split into several reads is delayed once, not once per read.
Prints `ready` on stdout once it listens; stops on SIGTERM or SIGINT.

With LOG, it appends a line per request (`q CONN EPOCH_SECONDS`: the client began sending it)
and per chunk of answer (`r CONN EPOCH_SECONDS`), as the client sees them, so a benchmark can
count the requests in a window and the longest chain of them that ran one after another.
A request begins when the client sends on a connection that is idle or has been answered:
HTTP/1.1 clients (botocore, hyper) do not pipeline.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time


async def pipe(reader, writer, delay: float, jitter: float, on_chunk=None) -> None:
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
            if on_chunk:
                on_chunk()
            last_due = max(loop.time() + delay + random.uniform(0, jitter), last_due)
            queue.put_nowait((last_due, data))
    finally:
        queue.put_nowait((0.0, None))
        try:
            await sender
        finally:
            writer.close()


async def main(listen: int, upstream: int, delay_ms: float, jitter_ms: float, log_path: str | None) -> None:
    delay, jitter = delay_ms / 1000, jitter_ms / 1000
    log = open(log_path, "a", buffering=1) if log_path else None
    connections = 0

    async def handle(client_reader, client_writer) -> None:
        nonlocal connections
        connections += 1
        conn, answered = connections, [True]

        def on_request() -> None:
            if log and answered[0]:
                answered[0] = False
                log.write(f"q {conn} {time.time():.6f}\n")

        def on_answer() -> None:
            answered[0] = True
            if log:
                log.write(f"r {conn} {time.time():.6f}\n")

        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        # the delay applies to requests only: one added round trip per request
        await asyncio.gather(
            pipe(client_reader, up_writer, delay, jitter, on_request),
            pipe(up_reader, client_writer, 0.0, 0.0, on_answer),
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
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    port, upstream, delay_ms, jitter_ms = sys.argv[1:5]
    log_file = sys.argv[5] if len(sys.argv) == 6 else None
    asyncio.run(main(int(port), int(upstream), float(delay_ms), float(jitter_ms), log_file))
