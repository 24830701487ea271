"""Schema migrations (Alembic), run by `ringback db upgrade` and by every command that needs the database."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str, engine: Engine | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(url: str, engine: Engine | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url, engine), revision)


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest revision (cheap: one query)."""
    heads = set(ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads())
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads


def ensure_current(url: str, engine: Engine) -> None:
    if not is_current(engine):
        upgrade(url, engine)
