"""Tunix RT: a reasoning-trace workbench for fine-tuning models with Tunix."""

__version__ = "0.1.0"
