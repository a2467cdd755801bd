"""ORM tables for the evaluation domain."""

from __future__ import annotations
