"""A PostgreSQL and a Redis server of the run's own, on loopback ports of their own, that a chaos
run may stop and start without touching the machine's shared servers (nor another test's data).

Made from the machine's own binaries (Debian's postgresql and redis-server, which
scripts/services installs): `initdb` into a temporary folder, run as the `postgres` user when
we are root (PostgreSQL refuses to run as root); Redis without persistence, as in production
here, so a restart loses every queued job.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from bench.procfile import free_port


def stop_cleanly_on_term() -> None:
    """Turn SIGTERM (a timeout, a CI runner stopping) into SystemExit, so the servers' ``with``
    blocks still stop them and remove their folders instead of leaving them running."""
    import signal

    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


class ServerMissing(RuntimeError):
    """The binaries for a private server are not on this machine."""


def on_private_servers(script: str, run, args) -> int:
    """``run(args, postgres, redis)`` on a PostgreSQL and a Redis of its own; exit status 2 with
    one line naming what is missing when their binaries are not here."""
    import sys
    try:
        with PrivatePostgres() as pg, PrivateRedis() as rd:
            return run(args, pg, rd)
    except ServerMissing as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        return 2


def _postgres_bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServerMissing("PostgreSQL's initdb is not installed (Debian: postgresql)")


class PrivatePostgres:
    """``with PrivatePostgres() as pg:`` a fresh cluster; ``pg.url`` its database; ``pg.restart()``."""

    def __init__(self, database: str = "ringback"):
        self.bin = _postgres_bin()
        self.port = free_port()
        self.database = database
        self.root = self.data = None  # made on entering
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, check=check)

    def __enter__(self) -> "PrivatePostgres":
        self.root = Path(tempfile.mkdtemp(prefix="ringback-pg-"))
        self.data = self.root / "data"
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        self.start()
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o",
                  options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: disconnect everyone and shut down cleanly (a restart for maintenance);
        ``immediate``: as if the server crashed (crash recovery runs on the next start)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def pid(self) -> int:
        """The postmaster's process id (its children are the backends)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def restart(self, down_seconds: float = 3.0, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()

    def __exit__(self, *exc) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """``with PrivateRedis() as r:`` an empty Redis; ``r.url``; ``r.restart()`` comes back empty."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise ServerMissing("redis-server is not installed (Debian: redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.root: Path | None = None  # made on entering
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.root)],
                                     stdout=open(self.root / "server.log", "a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start; see {self.root / 'server.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def restart(self, down_seconds: float = 2.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def __enter__(self) -> "PrivateRedis":
        self.root = Path(tempfile.mkdtemp(prefix="ringback-redis-"))
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
