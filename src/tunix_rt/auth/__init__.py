"""API tokens and their enforcement (SPEC §12, docs/security.md)."""
