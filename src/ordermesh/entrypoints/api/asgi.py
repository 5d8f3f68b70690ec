"""The ASGI application for servers: `uvicorn ordermesh.entrypoints.api.asgi:app`."""

from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.entrypoints.observability import configure_logging

_settings = Settings()
configure_logging(_settings.log_level, json=_settings.log_json)
app = create_app()
