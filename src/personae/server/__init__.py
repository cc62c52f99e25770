"""The HTTP server: OpenAI-compatible API, native REST API and the web chat."""

from personae.server.app import create_app
from personae.server.auth import ensure_admin_token

__all__ = ["create_app", "ensure_admin_token"]
