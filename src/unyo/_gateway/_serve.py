"""Run the gateway under uvicorn: the app, the server's settings, one process."""

from __future__ import annotations

from typing import Any


def build_app(settings: Any | None = None) -> Any:
    """The app from the environment (settings, secret, admin token): also uvicorn's factory."""
    from unyo._core._config import load_settings
    from unyo._gateway._app import GatewayConfig, create_app

    return create_app(settings or load_settings(), GatewayConfig.from_env())


def serve(host: str = "127.0.0.1", port: int = 8787, log_level: str = "info") -> None:
    import uvicorn

    app = build_app()  # configuration errors surface here, before the port is taken
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
