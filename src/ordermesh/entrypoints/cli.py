"""The `ordermesh` command: serve, worker, migrate, demo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
import uvicorn

from ordermesh.adapters.db.migrate import upgrade
from ordermesh.bootstrap import App, bootstrap
from ordermesh.config import Settings
from ordermesh.entrypoints.observability import configure_logging

app = typer.Typer(help="Ordermesh order management system", no_args_is_help=True)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    ordermesh = bootstrap()
    upgrade(ordermesh.engine)
    typer.echo(f"database is at the latest schema ({_safe_url(ordermesh.settings)})")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Random seed for the demo catalogue")] = 7,
) -> None:
    """Seed a small demo retailer and print its API keys (shown once)."""
    from ordermesh.entrypoints.demo import seed_demo

    ordermesh = bootstrap()
    upgrade(ordermesh.engine)
    keys = {} if _demo_is_there(ordermesh) else seed_demo(ordermesh.bus, seed=seed)
    if not keys:
        typer.echo("demo data is already there; its keys were shown when it was created.\n"
                   "Issue a new key with: ordermesh create-key --name <you> --role admin")
        return
    typer.echo("Demo API keys (store them now, they are not shown again):")
    for name, key in keys.items():
        typer.echo(f"  {name:<14} {key}")
    from ordermesh.entrypoints.demo_data import DEMO_PASSWORD, DEMO_USERS

    typer.echo(f"Console users at /console (password {DEMO_PASSWORD!r}):")
    for email, _, role, location in DEMO_USERS:
        typer.echo(f"  {email:<36} {role}{f' at {location}' if location else ''}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    with_worker: Annotated[bool, typer.Option(
        "--with-worker", help="Also run the worker's timed jobs in a background thread")] = False,
) -> None:
    """Run the HTTP API."""
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    if not with_worker:
        uvicorn.run("ordermesh.entrypoints.api.asgi:app", host=host, port=port, workers=workers)
        return
    from ordermesh.entrypoints.worker import Worker, in_background, schedule, stop_on_signals

    ordermesh = bootstrap()
    background = Worker(ordermesh, schedule(ordermesh.settings))
    with stop_on_signals(background), in_background(background):
        uvicorn.run("ordermesh.entrypoints.api.asgi:app", host=host, port=port, workers=workers)


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run each job once, then exit")] = False,
) -> None:
    """Run the timed jobs (expire cart holds, settle payments, import payouts) until SIGTERM or
    SIGINT; the schedule and each run's result are logged."""
    from ordermesh.entrypoints.worker import run_worker

    if not run_worker(once=once):
        raise typer.Exit(1)


def _demo_is_there(ordermesh: App) -> bool:
    """The demo's last setup step made the web channel: if it exists, the demo is complete."""
    from ordermesh.adapters.db import queries

    with ordermesh.engine.connect() as conn:
        return any(ch["code"] == "web" for ch in queries.list_channels(conn))


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


@app.command("ap-ageing")
def ap_ageing(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="The day to age at (default: today, UTC)")] = None,
) -> None:
    """Print the accounts-payable ageing as CSV: what is owed to each supplier, by days past due."""
    from ordermesh.adapters.db import payables_queries

    day = as_of.date() if as_of else datetime.now(UTC).date()
    engine = bootstrap().engine
    try:
        with engine.connect() as conn:
            report, names = payables_queries.ageing(conn, day)
    finally:
        engine.dispose()
    typer.echo(report.to_csv(names), nl=False)


@app.command("import-payouts")
def import_payouts(
    gateway: Annotated[str, typer.Option(help="test or stripe")] = "test",
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="The first arrival day (default: 14 days ago)")] = None,
) -> None:
    """Fetch the gateway's payouts and what each consisted of; each payout is stored once."""
    from datetime import timedelta

    from ordermesh.services.commands import ImportPayouts

    day = since.date() if since else datetime.now(UTC).date() - timedelta(days=14)
    ordermesh = bootstrap()
    try:
        imported = ordermesh.bus.handle(ImportPayouts("cli", gateway, day))
    finally:
        ordermesh.engine.dispose()
    typer.echo(f"{len(imported)} new payout(s) from {gateway}")


@app.command()
def reconciliation(
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="The first payout day")],
    gateway: Annotated[str | None, typer.Option(help="Only this gateway")] = None,
    settled_within_days: Annotated[int, typer.Option(
        help="Our captures and refunds older than this and in no payout are listed")] = 7,
) -> None:
    """Print the reconciliation report as CSV: each payout against our captures, refunds and
    fees (difference 0 when it reconciles), then every finding to review."""
    from ordermesh.adapters.db import money_queries
    from ordermesh.adapters.documents.reconciliation import reconciliation_csv

    engine = bootstrap().engine
    try:
        with engine.connect() as conn:
            checks, late = money_queries.reconciliation(conn, gateway, since.date(),
                                                        settled_within_days)
    finally:
        engine.dispose()
    typer.echo(reconciliation_csv(checks, late), nl=False)


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="The user's email, used to sign in")],
    name: Annotated[str, typer.Option(help="The user's name")],
    role: Annotated[str, typer.Option(
        help="admin, operator, call_centre or store_staff")] = "admin",
    location: Annotated[str | None, typer.Option(help="The store of store staff")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True)] = "",
) -> None:
    """Add a console user (the first admin of a new installation comes from here)."""
    from ordermesh.domain.errors import DomainError
    from ordermesh.services.user_commands import CreateUser

    try:
        bootstrap().bus.handle(CreateUser("cli", email, name, role, password, location))
    except DomainError as exc:
        typer.echo(f"refused: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created {role} {email.strip().lower()}")


@app.command("create-key")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key")],
    role: Annotated[str, typer.Option(help="channel, operator or admin")] = "admin",
    channel: Annotated[str | None, typer.Option(help="The channel of a channel key")] = None,
) -> None:
    """Issue an API key (the first admin key of a new installation comes from here)."""
    from ordermesh.services.commands import CreateApiKey

    issued = bootstrap().bus.handle(CreateApiKey("cli", name, role, channel))
    typer.echo(issued.key)


@app.command()
def simulate(
    orders: Annotated[int, typer.Option(min=1, max=100_000, help="Orders in the day")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same day")] = 1,
    day: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="The trading day (default: yesterday, UTC)")] = None,
) -> None:
    """Drive a realistic retail day through the API, compressed in time, on the demo
    retailer (after `ordermesh migrate` and `ordermesh demo`); see docs/simulator.md."""
    from ordermesh.entrypoints.simulate import NotReady, print_summary
    from ordermesh.entrypoints.simulate import simulate as simulate_day

    try:
        summary = simulate_day(Settings(), orders, seed, day.date() if day else None)
    except NotReady as exc:
        typer.echo(f"ordermesh simulate: {exc}", err=True)
        raise typer.Exit(2) from None
    print_summary(summary)
