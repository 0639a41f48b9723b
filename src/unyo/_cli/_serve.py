"""`unyo serve`: the OpenAI-compatible gateway on HOST:PORT (FastAPI is imported only here)."""

from __future__ import annotations

import sys
from argparse import Namespace

from unyo._types._errors import ConfigError
from unyo._types._messages import Message, msg

_NEEDS = ("fastapi", "uvicorn", "prometheus_client")


def run(args: Namespace) -> int:
    import importlib

    for name in _NEEDS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            raise ConfigError(Message("serve.needs", name=name)) from None
    from unyo._gateway._serve import serve

    print(msg("serve.listening", host=args.host, port=args.port), file=sys.stderr)
    serve(args.host, args.port, args.log_level, args.workers)
    return 0
