"""The runs tests' app without a worker, its settings and sessionmaker."""

from tests.runs.conftest import api, run_app, run_settings, sm  # noqa: F401
