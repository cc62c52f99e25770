"""The worker process of `personae up` (work/relay.py): runs jobs for the server that
started it, which passes the socket it talks over as the last argument. Not a command for
people: `personae up` starts it, and starts it again should it die."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from personae.observe import settle_process
from personae.runtime import Runtime
from personae.work.relay import ServerLink

log = logging.getLogger("personae.worker")


async def serve(fd: int) -> None:
    link = ServerLink(fd)
    settings = await link.listen()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s:     worker: %(message)s"
    )
    runtime = await Runtime.start(settings, role="worker", link=link)
    settle_process()
    link.ready(settings.worker_nice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    gone = asyncio.create_task(link.gone.wait())
    await asyncio.wait([stopping, gone], return_when=asyncio.FIRST_COMPLETED)
    if not stop.is_set():
        # The server is gone without asking us to stop (killed): a new one starts its own
        # worker, which must not meet this one running the same jobs.
        os._exit(1)
    await runtime.aclose()
    await link.aclose()


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("the worker process is started by `personae up`, not by hand")
    try:
        import uvloop

        uvloop.run(serve(int(sys.argv[1])))
    except ImportError:
        asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
