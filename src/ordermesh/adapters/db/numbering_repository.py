"""Gapless numbers: one upsert per number, on a row that stays locked until the commit."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t

_c = t.document_counters.c


class SqlNumbering:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def next(self, series: str, year: int) -> int:
        """The next number of the series for the year. Concurrent transactions wait for each
        other on the counter row; a rollback gives its number back to the next one."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        statement = (dialect.insert(t.document_counters)
                     .values(series=series, year=year, last=1)
                     .on_conflict_do_update(index_elements=[_c.series, _c.year],
                                            set_={"last": _c.last + 1})
                     .returning(_c.last))
        return int(self.conn.execute(statement).scalar_one())
