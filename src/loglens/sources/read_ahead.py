"""Reading the next batch of an input while the current one is parsed and stored.

Reading a chunk is single-threaded Python and NumPy work (about a tenth of an ingest), and the
database leaves part of the second core idle while it parses and writes: reading one batch
ahead on a thread fills that gap. Only one batch waits at a time, so memory grows by one chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.05  # how often a blocked side looks whether the other has stopped


class ReadAhead(Generic[T]):
    """Iterates ``items`` on a thread, one item ahead of the consumer.

    The items come out in order; an exception raised by ``items`` is raised to the consumer
    where that item would have come. :meth:`stop` (also on leaving a ``with`` block) ends the
    thread and waits for it, so the input can be closed safely afterwards.
    """

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self._queue: Queue[tuple[str, object]] = Queue()
        # One item may be read ahead: the thread takes the slot before reading, the consumer
        # gives it back on taking the item. With the consumer's own, two items live at once.
        self._slot = threading.Semaphore(1)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="loglens-read-ahead")
        self._thread.daemon = True
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                kind, value = self._queue.get(timeout=_POLL_SECONDS)
            except Empty:
                if self._stopped.is_set() or not self._thread.is_alive():
                    return
                continue
            self._slot.release()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]

    def stop(self) -> None:
        """End the thread (after the read under way, if any) and wait for it."""
        self._stopped.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _produce(self) -> None:
        try:
            while self._take_slot():
                try:
                    item = next(self._items)
                except StopIteration:
                    self._queue.put(("end", None))
                    return
                self._queue.put(("item", item))
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(("error", exc))

    def _take_slot(self) -> bool:
        while not self._stopped.is_set():
            if self._slot.acquire(timeout=_POLL_SECONDS):
                return True
        return False
