"""The Alembic migrations build exactly the schema the models describe, and run down and up again."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from integration import migrate
from integration.db import make_engine
from integration.models import Base


def test_migrations_match_the_models_and_reverse_cleanly(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    cfg = migrate.alembic_config(db_url, engine)
    command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None
    command.upgrade(cfg, "head")
    assert migrate.is_current(engine)
    engine.dispose()


def test_one_statement_work_leaves_pooled_connections_as_it_found_them(db_url):
    """db.autocommit: no BEGIN/COMMIT on PostgreSQL, and SQLite's connections keep running without
    the driver's implicit transactions (ours are BEGIN IMMEDIATE, under the write turn)."""
    from integration.db import autocommit
    engine = make_engine(db_url)
    with engine.connect() as conn:
        before = conn.connection.dbapi_connection
        state = (before.isolation_level if engine.dialect.name == "sqlite" else before.autocommit)
    with autocommit(engine).connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    with engine.connect() as conn:
        after = conn.connection.dbapi_connection
        assert after is before  # the same pooled connection
        assert (after.isolation_level if engine.dialect.name == "sqlite" else after.autocommit) == state
    engine.dispose()
