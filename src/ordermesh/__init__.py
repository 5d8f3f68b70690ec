"""Ordermesh: one order management system behind every sales channel."""

__version__ = "0.1.0"
