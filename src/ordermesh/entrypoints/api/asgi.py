"""The ASGI application for servers: `uvicorn ordermesh.entrypoints.api.asgi:app`."""

from ordermesh.entrypoints.api.app import create_app

app = create_app()
