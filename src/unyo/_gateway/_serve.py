"""Run the gateway under uvicorn: the app, the server's settings, one process."""

from __future__ import annotations

from typing import Any


def build_app(settings: Any | None = None) -> Any:
    """The app from the environment (settings, secret, admin token): also uvicorn's factory."""
    from unyo._core._config import load_settings
    from unyo._gateway._app import GatewayConfig, create_app

    return create_app(settings or load_settings(), GatewayConfig.from_env())


def serve(host: str = "127.0.0.1", port: int = 8787, log_level: str = "info", workers: int = 1) -> None:
    """One process, or `workers` processes on one port (each its own event loop: Python serves a
    request's pipeline on one core, so on N cores N workers serve about N times as many)."""
    import uvicorn

    app = build_app()  # configuration errors surface here, before the port is taken
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "access_log": log_level == "debug"}
    if workers > 1:
        uvicorn.run("unyo._gateway._serve:build_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(app, **options)
