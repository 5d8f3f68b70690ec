"""Domain errors. Each carries a stable code that the API maps to a problem+json answer."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the business refused a request."""

    code = "ordermesh.error"
    title = "Request refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    code = "resource.not_found"
    title = "Not found"


class AlreadyExists(DomainError):
    code = "resource.already_exists"
    title = "Already exists"


class InvalidInput(DomainError):
    code = "request.invalid"
    title = "Invalid request"


class InvalidTransition(DomainError):
    code = "order.invalid_transition"
    title = "Transition not allowed"


class InsufficientStock(DomainError):
    code = "stock.insufficient"
    title = "Insufficient stock"


class IdempotencyKeyReused(DomainError):
    code = "idempotency.key_reused"
    title = "Idempotency key reused with a different request"


class DuplicateOrder(DomainError):
    code = "order.duplicate_external_reference"
    title = "Order already captured"


class ConcurrentUpdate(DomainError):
    """Someone else changed the record first; the command is retried from the start."""

    code = "concurrency.conflict"
    title = "Concurrent update"


class ServiceUnavailable(DomainError):
    """An outside service (a carrier) did not answer; nothing was changed: ask again."""

    code = "service.unavailable"
    title = "Service unavailable"


class Leased(DomainError):
    """Another worker holds the lease on what is asked for."""

    code = "fulfilment.leased"
    title = "Leased to another worker"


class SignInRefused(DomainError):
    """The email and password do not match an active user. Which of them was wrong is not
    said, so the answer does not tell who has an account."""

    code = "auth.sign_in_refused"
    title = "Sign-in refused"
