"""Engines and sessions. SQLite (WAL) by default, PostgreSQL when DATABASE_URL says so."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .sqlite_turns import WriteTurns


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_pragmas(engine, WriteTurns(path) if path and path != ":memory:" else None)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(engine: Engine, turns: WriteTurns | None) -> None:
    # Several processes (gunicorn workers, the huey worker) write one file. WAL lets readers
    # go on while one writes; BEGIN IMMEDIATE takes the write lock up front, so a transaction
    # that reads then writes waits (busy_timeout) instead of failing with SQLITE_BUSY_SNAPSHOT.
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # Writers take turns before asking SQLite for its write lock (see sqlite_turns).
    lock = turns or _ThreadTurns()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        lock.acquire()
        conn.info["ringback_lock"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn):
        if conn.info.pop("ringback_lock", False):
            lock.release()

    # These events fire before SQLAlchemy's own COMMIT/ROLLBACK: finish the transaction here,
    # then hand the turn over (the driver's commit() after that is a no-op).
    def _end(method: str):
        def end(conn):
            try:
                getattr(conn.connection.dbapi_connection, method)()
            finally:
                _release(conn)
        return end

    event.listen(engine, "commit", _end("commit"))
    event.listen(engine, "rollback", _end("rollback"))


class _ThreadTurns(WriteTurns):
    """Turns among the threads of one process, for an in-memory database."""

    def __init__(self):
        self._thread_lock = threading.Lock()

    def acquire(self, timeout: float = 30.0) -> None:
        if not self._thread_lock.acquire(timeout=timeout):
            raise TimeoutError("waited for a write turn on an in-memory database")

    def release(self) -> None:
        self._thread_lock.release()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]):
    """A session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session
