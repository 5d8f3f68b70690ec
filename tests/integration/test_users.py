"""Console users on SQLite and PostgreSQL: creating them, signing in and out, sessions that
keep only a hash of their token, and the audit log written with each user's command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db import user_queries
from ordermesh.domain.errors import AlreadyExists, InvalidInput, NotFound, SignInRefused
from ordermesh.domain.events import utcnow
from ordermesh.services import commands as c
from ordermesh.services import user_commands as uc
from ordermesh.services.audit import audit_entry
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.users import SessionStarted, hash_session_token
from tests.builders import a_location, a_shop, an_order
from tests.races import together

pytestmark = pytest.mark.db
PASSWORD = "correct horse battery"


def a_user(bus: MessageBus, email: str = "ann@shop.example", role: str = "operator",
           location: str | None = None) -> str:
    user_id: str = bus.handle(uc.CreateUser("test", email, "Ann", role, PASSWORD, location))
    return user_id


def audit(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(t.audit_log).order_by(t.audit_log.c.id))]


def test_a_user_signs_in_and_the_session_keeps_only_a_hash(bus: MessageBus,
                                                           engine: Engine) -> None:
    # given an operator
    user_id = a_user(bus)
    # when they sign in (the email in any case)
    started: SessionStarted = bus.handle(uc.SignIn("console", "ANN@shop.example", PASSWORD))
    # then a session is kept under the token's hash, never the token itself
    with engine.connect() as conn:
        session = conn.execute(select(t.user_sessions)).one()._mapping
        user = user_queries.session_user(conn, hash_session_token(started.token), utcnow())
        signed_in_at = conn.execute(select(t.users.c.last_sign_in_at)).scalar_one()
    assert session["token_hash"] == hash_session_token(started.token) != started.token
    assert user is not None and user["id"] == user_id and user["csrf_token"] == started.csrf_token
    assert signed_in_at is not None
    assert [(a["actor"], a["action"]) for a in audit(engine)] == [
        ("user:ann@shop.example", "SignIn")]
    # and the password is stored as an argon2id hash
    with engine.connect() as conn:
        assert conn.execute(select(t.users.c.password_hash)).scalar_one().startswith("$argon2id$")


@pytest.mark.parametrize("email,password", [("ann@shop.example", "not the password"),
                                            ("nobody@shop.example", PASSWORD)])
def test_a_wrong_password_or_unknown_email_is_refused_alike(
        bus: MessageBus, engine: Engine, email: str, password: str) -> None:
    a_user(bus)
    with pytest.raises(SignInRefused) as refused:
        bus.handle(uc.SignIn("console", email, password))
    assert refused.value.detail.startswith("the email or password is not right")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.user_sessions)).scalar() == 0
    assert [(a["actor"], a["action"]) for a in audit(engine)] == [
        (f"user:{email}", "SignInRefused")]


def test_a_switched_off_user_cannot_sign_in_and_loses_their_sessions(
        bus: MessageBus, engine: Engine) -> None:
    user_id = a_user(bus)
    started: SessionStarted = bus.handle(uc.SignIn("console", "ann@shop.example", PASSWORD))
    bus.handle(uc.UpdateUser("user:admin@shop.example", user_id, {"active": False}))
    with engine.connect() as conn:
        assert user_queries.session_user(conn, hash_session_token(started.token), utcnow()) is None
    with pytest.raises(SignInRefused):
        bus.handle(uc.SignIn("console", "ann@shop.example", PASSWORD))


def test_a_new_role_or_password_ends_the_sessions(bus: MessageBus, engine: Engine) -> None:
    user_id = a_user(bus)
    bus.handle(uc.SignIn("console", "ann@shop.example", PASSWORD))
    bus.handle(uc.UpdateUser("user:admin@shop.example", user_id, {"role": "call_centre"}))
    bus.handle(uc.SignIn("console", "ann@shop.example", PASSWORD))
    bus.handle(uc.UpdateUser("user:admin@shop.example", user_id,
                             {"password": "another long password"}))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.user_sessions)).scalar() == 0
    bus.handle(uc.SignIn("console", "ann@shop.example", "another long password"))
    # the change of name alone keeps them signed in
    bus.handle(uc.UpdateUser("user:admin@shop.example", user_id, {"name": "Ann B"}))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.user_sessions)).scalar() == 1


def test_an_expired_session_signs_nobody_in(bus: MessageBus, engine: Engine) -> None:
    a_user(bus)
    started: SessionStarted = bus.handle(uc.SignIn("console", "ann@shop.example", PASSWORD,
                                                   hours=1))
    with engine.connect() as conn:
        token_hash = hash_session_token(started.token)
        assert user_queries.session_user(conn, token_hash, utcnow()) is not None
        assert user_queries.session_user(conn, token_hash, utcnow() + timedelta(hours=1)) is None


def test_store_staff_need_an_existing_location(bus: MessageBus) -> None:
    with pytest.raises(NotFound):
        a_user(bus, role="store_staff", location="ST-NOWHERE")
    bus.handle(c.CreateLocation("test", a_location("ST-1", kind="store")))
    a_user(bus, role="store_staff", location="ST-1")


def test_one_email_one_user_even_when_created_at_once(bus: MessageBus, engine: Engine) -> None:
    # when two admins add the same person at the same moment
    outcomes = together([lambda: a_user(bus, "Ann@shop.example"),
                         lambda: a_user(bus, "ann@shop.example ")], (InvalidInput,))
    # then one user exists and the other add was refused as a duplicate
    assert sum(isinstance(o, InvalidInput) for o in outcomes) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.users)).scalar() == 1


def test_a_users_command_is_audited_with_its_change_and_a_refused_one_is_not(
        bus: MessageBus, engine: Engine) -> None:
    # when a console user creates a channel, then tries to create it again
    bus.handle(c.CreateChannel("user:ann@shop.example", "web", "Webshop"))
    with pytest.raises(AlreadyExists):
        bus.handle(c.CreateChannel("user:ann@shop.example", "web", "Webshop"))
    # and a user creates another user (with a password) and an API key
    bus.handle(uc.CreateUser("user:ann@shop.example", "bob@shop.example", "Bob", "operator",
                             PASSWORD))
    # and the system (not a user) does something
    bus.handle(c.CreateChannel("system", "pos", "Shop floor"))
    # then the audit log holds exactly the user's two successful commands, the password left out
    entries = audit(engine)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("user:ann@shop.example", "CreateChannel", "web"),
        ("user:ann@shop.example", "CreateUser", "bob@shop.example")]
    assert entries[0]["detail"] == {"code": "web", "name": "Webshop"}
    assert "password" not in entries[1]["detail"] and PASSWORD not in str(entries[1]["detail"])


def test_a_payment_token_is_never_written_to_the_audit_log(bus: MessageBus,
                                                           engine: Engine) -> None:
    # given a shop whose call-centre agent takes orders paid with a gateway token
    shop = a_shop(bus, channels=("call_centre",))
    shop.location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 5)
    # when the agent places one
    bus.handle(c.PlaceOrder("user:agent@shop.example", "call_centre",
                            an_order(("TEE-1", 1), payment_token="tok_secret_4242"),
                            idempotency_key="k-1", request_hash="h"))
    # then the agent's entry names the order's customer, never the token
    [entry] = audit(engine)
    assert entry["action"] == "PlaceOrder" and "ann@example.com" in str(entry["detail"])
    assert "tok_secret" not in str(entry["detail"]) and "payment_token" not in str(entry)
    # and a new token for a refused payment is left out as well
    again = audit_entry(c.AuthorizePayment("user:agent@shop.example", "o-1", "tok_secret_9"))
    assert again["detail"] == {"order_id": "o-1", "channel": None}
