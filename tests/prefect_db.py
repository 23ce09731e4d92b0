"""A Prefect SQLite database migrated once, copied into each Prefect server a test starts.

A Prefect server started on an empty database first runs every migration (over a hundred
for SQLite): about 12 of its ~20 s start on this 2-core machine. The suite starts several
(the harness of each xdist worker, the deployment stack, the CLI processes of
tests/test_publish.py), so one database is migrated once (``migrated_template``, under a
file lock: both workers ask for it at the same moment) and each server's database file
starts as a copy of it (``seed``). The server still runs ``alembic upgrade head`` on start;
it finds the copy at head and has nothing to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

SQLITE_URL = "sqlite+aiosqlite:///{}"
# SQLite keeps uncommitted pages beside the database: a copy must not meet an older one's.
SIDE_FILES = ("-wal", "-shm", "-journal")
MIGRATE_TIMEOUT_S = 600      # ~15 s alone; minutes on a machine busy with other work


def schema_key() -> str:
    """Prefect's version and a digest of its SQLite migration files' names.

    The template is reused while both are unchanged (the pytest cache outlives a session):
    another Prefect, or one with other migrations, gets a template of its own.
    """
    import prefect

    versions = Path(prefect.__file__).parent / "server/database/_migrations/versions/sqlite"
    names = sorted(path.name for path in versions.glob("*.py"))
    assert names, f"no migrations found in {versions}"
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    return f"{prefect.__version__}-{digest}"


def remove_database(database: Path) -> None:
    """Remove a SQLite database and the journal files beside it."""
    for path in [database, *(database.with_name(database.name + end) for end in SIDE_FILES)]:
        path.unlink(missing_ok=True)


def migrate(database: Path) -> None:
    """Create ``database`` and run Prefect's migrations on it (``prefect server database
    upgrade``, in a process of its own: its settings are not this process's)."""
    env = {**os.environ, "PREFECT_SERVER_DATABASE_CONNECTION_URL": SQLITE_URL.format(database),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade",
                           "-y"], env=env, capture_output=True, text=True,
                          timeout=MIGRATE_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"prefect server database upgrade failed ({done.returncode}):\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")
    # Fold any write-ahead log into the file: the copies are of the database file alone.
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def migrated_template(folder: Path) -> Path:
    """The migrated database in ``folder``; the first caller (of any process) migrates it.

    Written under another name and renamed when complete, so a copy never reads half a
    database, even after a run that was killed while migrating.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / f"prefect-{schema_key()}.db"
    with open(folder / f"{template.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # released when the file closes
        if not template.exists():
            partial = template.with_name(template.name + ".partial")
            remove_database(partial)
            migrate(partial)
            os.replace(partial, template)
    return template


def seed(template: Path, database: Path) -> Path:
    """Make ``database`` a copy of ``template`` (replacing any database there); returns it."""
    database.parent.mkdir(parents=True, exist_ok=True)
    remove_database(database)
    shutil.copyfile(template, database)
    return database
