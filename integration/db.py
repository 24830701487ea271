"""Engines and sessions. SQLite (WAL) by default, PostgreSQL when DATABASE_URL says so."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .sqlite_turns import WriteTurns


def private_file(path: str | Path) -> None:
    """Create ``path`` readable by this user only (0600), in a folder only this user can enter
    when the folder is new. SQLite gives its -wal and -shm files the database file's mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            private_file(path)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_pragmas(engine, WriteTurns(path) if path and path != ":memory:" else None)
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout (several per missed call). When
    # PostgreSQL restarts, the first statement on a dead connection raises a disconnect error;
    # SQLAlchemy then discards every pooled connection made before it, that request answers 503
    # with Retry-After (app.database_away) and that job is run again, and the rest get new ones.
    # https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-optimistic
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _without_nul(engine)
    return engine


READ_ONLY = "ringback_read_only"


def read_only(engine: Engine) -> Engine:
    """The engine for pages and reports that only read. On SQLite their transactions do not take
    the write turn (which every BEGIN IMMEDIATE waits for); on PostgreSQL nothing differs."""
    return engine.execution_options(**{READ_ONLY: True})


def autocommit(engine: Engine) -> Engine:
    """The engine for work that is one statement (a webhook stored, a text's bookkeeping): no
    BEGIN and COMMIT round trips on PostgreSQL. SQLite's connections already run without the
    driver's own transactions (BEGIN IMMEDIATE is ours, under the write turn), and switching
    their isolation level would leave pooled connections reset to the driver's implicit ones."""
    return engine.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == "postgresql" else engine


def _without_nul(engine: Engine) -> None:
    """PostgreSQL's text cannot hold NUL (psycopg refuses the query). Vendors' payloads are
    checked at the door, but a NUL from any other input (an id in a URL, a header) must make a
    query find nothing, not fail: strip it from every string parameter."""
    def clean(value):
        return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value

    def clean_params(params):
        if isinstance(params, dict):
            return {k: clean(v) for k, v in params.items()}
        if isinstance(params, (list, tuple)):
            return type(params)(clean_params(p) if isinstance(p, (dict, list, tuple)) else clean(p) for p in params)
        return params

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(_conn, _cursor, statement, parameters, _context, _executemany):
        return statement, clean_params(parameters)


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
        # Reports read tens of thousands of rows through indexes: a 16 MiB page cache per
        # connection and the file mapped (pages shared by every process, not copied per read).
        cur.execute("PRAGMA cache_size=-16384")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.execute("PRAGMA temp_store=MEMORY")  # their GROUP BY's sorting, not in a temporary file
        cur.close()

    # Writers take turns before asking SQLite for its write lock (see sqlite_turns).
    lock = turns or _ThreadTurns()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        if conn.get_execution_options().get(READ_ONLY):
            # A page that only reads (db.read_only): a deferred transaction reads a snapshot of
            # the WAL without the write lock, so a long report never holds up webhooks.
            conn.exec_driver_sql("BEGIN")
            return
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
