"""Model registry (SPEC §11): models, versions promoted from runs, aliases, downloads."""
