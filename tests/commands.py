"""Running `ringback ...` in-process against a test's own database, as an operator would."""
from __future__ import annotations

from tests.conftest import PUBLIC_URL


def run_cli(config, monkeypatch, *args, ok: bool = True):
    """The click result of `ringback *args` on ``config``'s database; asserts it succeeded (or, with
    ``ok=False``, that it failed)."""
    from click.testing import CliRunner

    from integration.cli import main
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("RINGBACK_PUBLIC_URL", PUBLIC_URL)
    for name in ("RINGBACK_SECRET_KEY", "RINGBACK_ENCRYPTION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, list(args))
    assert (result.exit_code == 0) == ok, result.output
    return result
