"""Command handlers, one module per area."""
