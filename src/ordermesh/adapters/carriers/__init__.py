"""Carriers: the built-in courier simulator."""
