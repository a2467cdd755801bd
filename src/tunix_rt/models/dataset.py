"""ORM tables for the dataset domain."""

from __future__ import annotations
