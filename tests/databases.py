"""Test databases: a migrated SQLite template copied per test, and one migrated PostgreSQL
database per test process, emptied between tests."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from ordermesh.adapters.db.engine import make_engine, normalise_url
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.tables import metadata


def migrated_sqlite_template(folder: Path) -> Path:
    path = folder / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close folds the WAL into the file
    assert not path.with_name("template.db-wal").exists()
    return path


def find_postgres(folder: Path) -> tuple[str | None, str]:
    """The server URL from ORDERMESH_TEST_POSTGRES_URL, or a throwaway cluster; else a reason."""
    url = os.environ.get("ORDERMESH_TEST_POSTGRES_URL")
    if url:
        return url, "from ORDERMESH_TEST_POSTGRES_URL"
    candidates = [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))]
    pg_ctl = next((c for c in candidates if c), None)
    if pg_ctl is None:
        return None, "no ORDERMESH_TEST_POSTGRES_URL and no pg_ctl to start a throwaway cluster"
    as_user: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # initdb refuses to run as root; run the cluster as the postgres account if there is one.
        if shutil.which("runuser") is None or _uid("postgres") is None:
            return None, "no ORDERMESH_TEST_POSTGRES_URL, and initdb refuses to run as root"
        as_user = ["runuser", "-u", "postgres", "--"]
    return _start_cluster(Path(pg_ctl), folder, as_user)


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _start_cluster(pg_ctl: Path, folder: Path, as_user: list[str]) -> tuple[str | None, str]:
    cluster = folder / "cluster"
    cluster.mkdir()
    if as_user:
        uid = _uid("postgres")
        assert uid is not None
        os.chown(cluster, uid, -1)
        folder.chmod(0o755)
        for parent in folder.parents:  # the account must be able to reach its folder
            if parent.stat().st_mode & 0o001 == 0 and parent != Path("/"):
                parent.chmod(parent.stat().st_mode | 0o001)
    data = cluster / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run([*as_user, str(pg_ctl.parent / "initdb"), "-D", str(data), "-U",
                        "postgres", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        options = f"-p {port} -k {cluster} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-l",
                        str(cluster / "pg.log"), "-w", "start"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"could not start a throwaway PostgreSQL cluster: {exc} {detail.decode()}"
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", f"throwaway cluster in {data}"


def stop_cluster(folder: Path) -> None:
    data = folder / "cluster" / "data"
    pg_ctl = shutil.which("pg_ctl") or next(iter(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")), None)
    if data.exists() and pg_ctl:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)


def _admin_engine(server_url: str) -> Engine:
    return create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")


def create_postgres_database(server_url: str) -> str:
    """A new, migrated database on the server; returns its URL."""
    name = f"ordermesh_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(normalise_url(server_url)).set(database=name)
    database_url = url.render_as_string(hide_password=False)
    engine = make_engine(database_url, pool_size=1)
    upgrade(engine)
    engine.dispose()
    return database_url


def drop_postgres_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_postgres_database(engine: Engine) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
