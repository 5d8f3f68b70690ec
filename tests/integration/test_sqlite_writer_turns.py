"""SQLite writers take turns (adapters/db/engine.py WriterTurns): the turn is held from a
write transaction's BEGIN until its connection is back in the pool, a dead process drops it,
a writer that cannot get it in time fails as a locked database does (and is retried), and many
threads writing at once lose no update and see no lock error."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from ordermesh.adapters.db.engine import WriterTurns, make_engine, retry_reason


def turn_is_free(path: Path) -> bool:
    """Whether another open file description could take the writers' flock right now."""
    fd = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops a lock this probe took
    return True


def test_the_turn_is_held_from_begin_until_the_connection_is_back_in_the_pool(
        tmp_path: Path) -> None:
    path = tmp_path / "turns.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.commit()
    assert turn_is_free(path)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO counter VALUES (1)"))
        assert not turn_is_free(path)
        conn.commit()
    assert turn_is_free(path)
    with engine.connect().execution_options(read_only=True) as conn:  # readers take no turn
        conn.execute(text("SELECT n FROM counter")).all()
        assert turn_is_free(path)
    engine.dispose()


def test_a_writer_that_cannot_get_its_turn_in_time_fails_as_a_locked_database(
        tmp_path: Path) -> None:
    turns = WriterTurns(str(tmp_path / "x.db"), timeout_s=0.2)
    first: dict[str, object] = {}
    turns.take(first)
    with pytest.raises(Exception) as refused:
        turns.take({})
    assert retry_reason(refused.value) == "database_locked"
    turns.give_back(first)
    second: dict[str, object] = {}
    turns.take(second)  # free again
    turns.forget(second)
    turns.forget(first)


def test_a_process_killed_holding_the_turn_gives_it_up(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path) + '-writers'!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert not turn_is_free(path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert turn_is_free(path)


def test_many_threads_writing_at_once_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
        conn.commit()
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def add(times: int) -> None:
        start.wait()
        for _ in range(times):
            try:
                with engine.connect() as conn:  # read, then write what was read: no lost update
                    n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                    conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                    conn.commit()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 16 * 25
    engine.dispose()


def test_writers_fall_back_to_sqlite_waiting_when_the_lock_file_cannot_be_opened(
        tmp_path: Path) -> None:
    path = tmp_path / "no-turns.db"
    Path(f"{path}-writers").mkdir()  # not a file: it cannot be opened for a lock
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (1)"))
        conn.commit()
    with engine.connect() as conn:  # and again: the process's turn was given back
        conn.execute(text("UPDATE counter SET n = n + 1"))
        conn.commit()
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2
    engine.dispose()
