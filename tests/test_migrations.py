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
