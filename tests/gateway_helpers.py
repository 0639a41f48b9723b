"""A real `unyo serve` process on 127.0.0.1 for the gateway tests, upstream = the fault server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

SECRET = "test-gateway-secret-0123456789abcdef"
ADMIN = "test-admin-token-abcdefghijklmnop"
UPSTREAM_KEY = "sk-test-PLANTED0123456789abcdefXYZ"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(upstream: str, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))}
    env.update(
        {
            "UNYO_HOME": os.environ.get("UNYO_HOME", ""),
            "UNYO_LANG": "en",
            "UNYO_PROFILE": "openai",
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": upstream,
            "UNYO_MODEL": "gpt-4o-mini",
            "UNYO_BACKOFF_BASE_S": "0.01",
            "UNYO_BACKOFF_MAX_S": "0.05",
            "UNYO_DB_URL": db_url,
            "UNYO_GATEWAY_SECRET": SECRET,
            "UNYO_GATEWAY_ADMIN_TOKEN": ADMIN,
        }
    )
    env.update(extra)
    return env


class Served:
    """`python -m unyo serve --port P` with the given environment, ready when /healthz answers."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "unyo",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unyo serve exited {self.proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"unyo serve did not start: {log.read_text()}")

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"authorization": f"Bearer {ADMIN}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def new_key(self, **fields: Any) -> str:
        fields.setdefault("name", f"k{time.monotonic_ns()}")
        response = self.admin("POST", "/admin/keys", json=fields)
        assert response.status_code == 200, response.text
        return str(response.json()["key"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
