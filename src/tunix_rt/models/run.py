"""ORM tables for the run domain."""

from __future__ import annotations
