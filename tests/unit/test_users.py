"""Console users: the permission table, a user's details and the password rules."""

from __future__ import annotations

import pytest

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.users import PERMISSIONS, ROLES, check_password, check_user, may


def test_every_permission_names_known_roles_and_admin_may_do_all() -> None:
    for what, roles in PERMISSIONS.items():
        assert roles <= set(ROLES), what
        assert may("admin", what), what


@pytest.mark.parametrize(("role", "allowed", "refused"), [
    ("operator", {"orders.act", "payments.act", "purchasing", "analytics"},
     {"settings", "users", "audit"}),
    ("call_centre", {"orders.view", "orders.place", "orders.act"},
     {"payments.act", "orders.resource", "fulfilment", "purchasing", "settings"}),
    ("store_staff", {"fulfilment", "inventory.view", "inventory.adjust", "dashboard"},
     {"orders.view", "orders.place", "payments.act", "settings", "analytics"}),
])
def test_what_each_role_may_do(role: str, allowed: set[str], refused: set[str]) -> None:
    assert all(may(role, what) for what in allowed)
    assert not any(may(role, what) for what in refused)


def test_an_unknown_permission_or_role_is_refused() -> None:
    assert not may("admin", "launch.rockets")
    assert not may("owner", "dashboard")


def test_a_user_is_normalised() -> None:
    user = check_user("  Ann@Shop.Example ", " Ann ", "store_staff", " ST-1 ")
    assert (user.email, user.name, user.location) == ("ann@shop.example", "Ann", "ST-1")
    assert check_user("b@shop.example", "B", "operator", "  ").location is None


@pytest.mark.parametrize(("email", "name", "role", "location", "field"), [
    ("not-an-email", "A", "admin", None, "email"),
    ("a@shop.example", " ", "admin", None, "name"),
    ("a@shop.example", "A", "owner", None, "role"),
    ("a@shop.example", "A", "store_staff", None, "location"),
    ("a@shop.example", "A", "operator", "ST-1", "location"),
])
def test_bad_user_details_are_refused(email: str, name: str, role: str, location: str | None,
                                      field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_user(email, name, role, location)
    assert refused.value.extra["field"] == field


@pytest.mark.parametrize("password", ["short", "x" * 11, "x" * 257, "A@Shop.example"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput):
        check_password(password, "a@shop.example" if "@" not in password else password.lower())


def test_a_long_enough_password_is_taken() -> None:
    check_password("x" * 12, "a@shop.example")
    check_password("x" * 256, "a@shop.example")
