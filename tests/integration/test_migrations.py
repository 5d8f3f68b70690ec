"""The Alembic history builds exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from ordermesh.adapters.db.tables import metadata


def test_upgrade_head_builds_every_table(engine: Engine) -> None:
    # given a database migrated to head (the fixture runs `alembic upgrade head`)
    # then every declared table exists, and Alembic sees no difference to the code
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0005"


def test_the_history_goes_down_and_up_again(engine: Engine) -> None:
    from alembic import command

    from ordermesh.adapters.db.migrate import alembic_config, upgrade

    # given a database at head, when it is taken down to nothing and back up
    config = alembic_config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        conn.commit()
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    # then every table is back, exactly as the code declares it
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
