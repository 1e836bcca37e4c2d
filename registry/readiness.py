""" "This version is registered": the worker says so with PostgreSQL's NOTIFY, the web process waits for it without
polling.

Why: creating a version answers READY when the worker is quick (`selectors.wait_until_registered`), and polling the
row in short sleeps kept a request thread busy re-reading it. Now the worker's `registration_finalize` sends
`NOTIFY modelgate_version_ready, '<id>'` inside its transaction (PostgreSQL delivers it on commit, never for a
rolled-back attempt), and each web process keeps ONE listening connection, in a daemon thread started on first use,
that wakes the request threads waiting for that id. Not Redis pub/sub: a message published after commit can be lost
between the commit and the publish; NOTIFY is part of the transaction.

The listener connection is the only extra one per process; it is closed when no request has waited for a while
(`IDLE_SECONDS`) and opened again on the next wait. If it cannot be opened or breaks, waiters are woken and the
caller falls back to short polling, so a notification lost to a reconnect costs latency, never correctness. Other
databases (SQLite under `make run`) have no NOTIFY: `notify_ready` does nothing and callers poll."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connection, connections

logger = logging.getLogger(__name__)

CHANNEL = "modelgate_version_ready"
IDLE_SECONDS = 120.0  # close the listening connection after this long without a waiter
RECENT_SECONDS = 60.0  # how long a notification is remembered for a waiter that registers after it came
RECHECK_SECONDS = 1.0  # a waiter re-reads the row this often anyway (a safety net, not the mechanism)


def supported() -> bool:
    return connection.vendor == "postgresql"


def notify_ready(version_id: int) -> None:
    """In the caller's transaction: tell waiting web processes, on commit, that the version left PENDING."""
    if supported():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(version_id)])


class _Listener:
    """One per process: a thread LISTENing on its own connection, dispatching ids to waiting threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[int, set[threading.Event]] = {}
        self._recent: dict[int, float] = {}  # version id → monotonic time its notification arrived
        self._listening_since_ms: float | None = (
            None  # wall clock when LISTEN took effect (None: not listening)
        )
        self._listening = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._last_wait = time.monotonic()

    # --- the waiting side ---------------------------------------------------------------------------------------

    def register(self, version_id: int, event: threading.Event, deadline: float) -> tuple[bool, float | None]:
        """Add a waiter; → (already notified, since when the listener hears notifications, in epoch ms)."""
        thread = self._ensure_running()
        give_up = min(deadline, time.monotonic() + 2.0)
        while not self._listening.wait(timeout=0.02):
            if not thread.is_alive() or time.monotonic() >= give_up:
                break
        with self._lock:
            self._last_wait = time.monotonic()
            if version_id in self._recent:
                return True, self._listening_since_ms
            self._waiters.setdefault(version_id, set()).add(event)
            return False, self._listening_since_ms

    def unregister(self, version_id: int, event: threading.Event) -> None:
        with self._lock:
            waiters = self._waiters.get(version_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[version_id]

    def notified(self, version_id: int) -> bool:
        with self._lock:
            return version_id in self._recent

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening connection (tests call it before the test database is dropped)."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)
        self._stopped.clear()

    # --- the listening thread -----------------------------------------------------------------------------------

    def _ensure_running(self) -> threading.Thread:
        with self._lock:
            if (
                self._pid != os.getpid()
            ):  # forked after the thread started (a pre-loading server): start afresh
                self.__init__()  # type: ignore[misc]
            if self._thread is None or not self._thread.is_alive():
                self._last_wait = time.monotonic()
                self._thread = threading.Thread(
                    target=self._run, name="modelgate-ready-listener", daemon=True
                )
                self._thread.start()
            return self._thread

    def _run(self) -> None:
        wrapper = None
        try:
            # A connection of its own with the project's settings, outside Django's per-thread handling: it stays
            # in autocommit (LISTEN takes effect at once) and is never lent to a request.
            wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
            wrapper.ensure_connection()
            raw = wrapper.connection
            raw.execute(f"LISTEN {CHANNEL}")
            with self._lock:
                self._listening_since_ms = time.time() * 1000
                self._recent.clear()
            self._listening.set()
            while not self._stopped.is_set():
                for note in raw.notifies(timeout=0.5):
                    self._dispatch(note.payload)
                with self._lock:
                    idle = not self._waiters and time.monotonic() - self._last_wait > IDLE_SECONDS
                if idle:
                    break
        except Exception:
            logger.warning("version-ready listener stopped; waiters fall back to polling", exc_info=True)
        finally:
            self._listening.clear()
            with self._lock:
                self._listening_since_ms = None
                waiters = [e for events in self._waiters.values() for e in events]
            for event in waiters:  # wake them: they re-read the row and poll if still pending
                event.set()
            if wrapper is not None:
                try:
                    wrapper.close()
                except Exception:
                    logger.debug("closing the version-ready listener connection failed", exc_info=True)

    def _dispatch(self, payload: str) -> None:
        try:
            version_id = int(payload)
        except ValueError:
            return
        now = time.monotonic()
        with self._lock:
            self._recent[version_id] = now
            if len(self._recent) > 1000:
                self._recent = {k: t for k, t in self._recent.items() if now - t < RECENT_SECONDS}
            waiters = list(self._waiters.get(version_id, ()))
        for event in waiters:
            event.set()


_listener = _Listener()


def wait_for_notification(
    version_id: int, *, created_ms: float, deadline: float, still_pending: Callable[[], bool]
) -> None:
    """Block until the version's notification arrives, `deadline` (time.monotonic()) passes, or the listener cannot
    help; the caller then reads the row (and polls if it is still pending and time is left).

    `created_ms` is when the version row was written (before its transaction committed): when the listener has been
    listening since before then, the worker's commit cannot have come unheard, and no extra read is needed."""
    event = threading.Event()
    already, since_ms = _listener.register(version_id, event, deadline)
    try:
        if already or since_ms is None:
            return
        if since_ms > created_ms - 50 and not still_pending():  # 50 ms: clock resolution, not a race window
            return
        while not event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if event.wait(min(remaining, RECHECK_SECONDS)):
                return
            if not still_pending():
                return
    finally:
        _listener.unregister(version_id, event)


def stop_listener() -> None:
    _listener.stop()
