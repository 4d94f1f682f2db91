"""``pystrument-server worker``: one process that runs RQ jobs (analysis), consumes the Redis sink's
stream into the store and takes its share of the cluster's periodic work.

RQ runs in the main thread (a ``SimpleWorker``: jobs run in this process, with the plugins and the
store opened once, and the worker's signal handling); the stream consumer and the periodic scheduler
are threads beside it. SIGTERM/SIGINT: RQ finishes its job, then the threads stop after their batch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from pystrument.server.scale.connection import connect
from pystrument.server.scale.jobs import set_runtime
from pystrument.server.scale.periodic import Scheduler
from pystrument.server.scale.queue import QUEUES, make_queue
from pystrument.server.scale.redis_cache import InvalidatingStore
from pystrument.server.scale.setup import auto_analysis
from pystrument.server.scale.stream_consumer import StreamConsumer

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings
    from rq import SimpleWorker

logger = logging.getLogger("pystrument.server.scale")


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _worker_class() -> type[SimpleWorker]:
    from rq import SimpleWorker

    class Worker(SimpleWorker):
        """RQ's worker with a pubsub thread that stops at once. RQ polls its command channel with
        ``get_message(timeout=60)``; redis-py 8.2's ``PubSubWorkerThread.stop()`` joins that thread, and a
        thread that entered the wait after the unsubscribe sleeps the whole 60 s: a burst worker then took a
        minute to exit (seen under load). Polling every second costs nothing measurable."""

        def subscribe(self) -> None:
            self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            # RQ's Worker declares pubsub_thread by assigning None; its own subscribe() assigns the thread the same way
            self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=1, daemon=True,  # type: ignore[assignment]
                                                           exception_handler=self._pubsub_exception_handler)

    return Worker


def run_worker(settings: ServerSettings, queues: list[str] | None = None, burst: bool = False, name: str | None = None,
               stream: bool = True, periodic: bool = True) -> dict[str, Any]:
    from pystrument.server.stores import open_store

    name = name or default_name()
    conn = connect(settings)
    store = InvalidatingStore(open_store(settings), conn, settings)
    set_runtime(settings, store, conn)
    queues = queues or list(QUEUES)
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        from pystrument.server.settings import SettingsError

        raise SettingsError(f"unknown queue(s) {', '.join(unknown)}; the queues are: {', '.join(QUEUES)}")
    auto = auto_analysis(store, settings, conn)
    consumer = StreamConsumer(conn, store, settings, name, auto) if stream else None
    scheduler = Scheduler(conn, store, settings, name, auto) if periodic else None
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        if burst:
            if consumer is not None:
                consumer.ensure_group()
                consumer.drain()
            if scheduler is not None:
                scheduler.tick()
        else:
            if consumer is not None:
                threads.append(threading.Thread(target=consumer.run, args=(stop,), name="pystrument-stream", daemon=True))
            if scheduler is not None:
                threads.append(threading.Thread(target=scheduler.run, args=(stop,), name="pystrument-periodic", daemon=True))
            for t in threads:
                t.start()
        rq_worker = _worker_class()([make_queue(conn, settings, q) for q in queues], connection=conn, name=name)
        rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level.upper())
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        auto.close()
        store.close()
    return {"name": name, "stream": vars(consumer.counts) if consumer else None, "periodic": scheduler.ran if scheduler else None}
