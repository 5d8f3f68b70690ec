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
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0014"


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


def test_reservations_become_allocations_and_new_ones_follow_them(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import select, text

    from ordermesh.adapters.db import tables as t
    from ordermesh.adapters.db.migrate import alembic_config, migration_connection, upgrade
    from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
    from ordermesh.services.bus import MessageBus
    from tests.builders import a_shop, place

    # given a database of the previous release with an order holding three reservations
    config = alembic_config()
    with migration_connection(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
        conn.commit()
    now = "2026-11-01 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO channels VALUES ('old', 'Old', true, :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO products (sku, name, price_amount, currency, tax_class, preorder,"
            " backorderable, active, created_at, updated_at) VALUES"
            " ('OLD', 'Old', 100, 'EUR', 'standard', false, false, true, :now, :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO locations (code, name, kind, address, latitude, longitude, can_ship,"
            " can_pickup, priority, active, created_at, updated_at) VALUES ('WH-OLD', 'Old',"
            " 'warehouse', '{}', 52.0, 5.0, true, false, 1, true, :now, :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO orders (seq, id, channel_code, status, customer_email, customer_name,"
            " billing_address, fulfilment_method, currency, lines_total, shipping_total,"
            " grand_total, version, created_at, updated_at) VALUES (1, 'o-1', 'old',"
            " 'allocated', 'a@example.com', 'A', '{}', 'ship', 'EUR', 300, 0, 300, 1, :now,"
            " :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO order_lines VALUES ('l-1', 1, 1, 'OLD', 3, 100, 300, 'reserved')"))
        for n in (1, 2, 3):
            conn.execute(text(
                "INSERT INTO reservations (id, order_seq, line_id, sku, location_code, quantity,"
                " status, created_at) VALUES (:id, 1, 'l-1', 'OLD', 'WH-OLD', 1, 'active', :now)"),
                {"id": n, "now": now})
    # when it is upgraded and a new order is placed
    upgrade(engine)
    bus = MessageBus(lambda: SqlUnitOfWork(engine))
    shop = a_shop(bus).product("NEW").location("WH-1")
    shop.stock("NEW", "WH-1", 5)
    place(bus, ("NEW", 2))
    # then the reservations are allocations from stock, and the new one follows them
    with engine.connect() as conn:
        rows = conn.execute(select(t.allocations.c.id, t.allocations.c.sku,
                                   t.allocations.c.source).order_by(t.allocations.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "OLD", "stock"), (2, "OLD", "stock"),
                                        (3, "OLD", "stock"), (4, "NEW", "stock")]


def test_events_stored_before_the_outbox_count_as_told(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import text

    from ordermesh.adapters.db.migrate import alembic_config, migration_connection, upgrade

    # given a database before the outbox relay (0010) with an event of an earlier order
    config = alembic_config()
    with migration_connection(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
        conn.commit()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (id, stream, stream_id, type, actor, data, "
                          "occurred_at) VALUES ('e-old', 'order', 'o-old', 'order.placed', "
                          "'web', '{}', CURRENT_TIMESTAMP)"))
    # when it is upgraded
    upgrade(engine)
    # then that event is not relayed again: nobody is mailed about history
    with engine.connect() as conn:
        row = conn.execute(text("SELECT published_at, streamed_at FROM events "
                                "WHERE id = 'e-old'")).one()
    assert row.published_at is not None and row.streamed_at is not None
