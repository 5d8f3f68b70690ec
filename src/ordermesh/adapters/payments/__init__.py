"""Payment gateways: adapters of the PaymentGateway port to real payment providers."""
