"""unyo (運用): put LLM API calls into production safely, predictably and within budget.

The public API is exactly `__all__`; everything in `_modules` is private. Names are loaded
lazily so `import unyo` (and `unyo --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "APIError": "unyo._errors",
    "APIStatusError": "unyo._errors",
    "APITimeout": "unyo._errors",
    "Answer": "unyo._ask",
    "AsyncOpenAI": "unyo._client",
    "Attempt": "unyo._call",
    "AuthenticationError": "unyo._errors",
    "BadInput": "unyo._errors",
    "BadRequest": "unyo._errors",
    "NotBatchable": "unyo._errors",
    "BudgetConfig": "unyo._budget",
    "BudgetExceeded": "unyo._errors",
    "BudgetWarning": "unyo._budget",
    "CallInfo": "unyo._call",
    "Classification": "unyo._classify",
    "CancelToken": "unyo._stream",
    "Cancelled": "unyo._errors",
    "ConfigError": "unyo._errors",
    "Conflict": "unyo._errors",
    "Conversation": "unyo._conversations",
    "ConnectionFailed": "unyo._errors",
    "ContextTooLong": "unyo._errors",
    "ConversationDenied": "unyo._errors",
    "MalformedResponse": "unyo._errors",
    "NotFound": "unyo._errors",
    "OpenAI": "unyo._client",
    "OutputInvalid": "unyo._errors",
    "Parsed": "unyo._structured",
    "PermissionDenied": "unyo._errors",
    "Pipeline": "unyo._pipeline",
    "Profile": "unyo._profiles",
    "QuotaExhausted": "unyo._errors",
    "RateLimited": "unyo._errors",
    "RequestTimeout": "unyo._errors",
    "ServerError": "unyo._errors",
    "Settings": "unyo._config",
    "StreamInterrupted": "unyo._errors",
    "StreamResult": "unyo._stream",
    "Task": "unyo._tasks",
    "TaskResult": "unyo._tasks",
    "TextStream": "unyo._stream",
    "Tool": "unyo._tools",
    "ToolAnswer": "unyo._tool_loop",
    "ToolCallRecord": "unyo._tool_loop",
    "ToolLoopExceeded": "unyo._errors",
    "ToolRegistry": "unyo._tools",
    "ToolRequest": "unyo._tool_loop",
    "TransportError": "unyo._errors",
    "Unprocessable": "unyo._errors",
    "UnpricedModel": "unyo._errors",
    "UnyoError": "unyo._errors",
    "Usage": "unyo._call",
    "ask": "unyo._ask",
    "ask_structured": "unyo._structured",
    "ask_with_tools": "unyo._tool_loop",
    "call_info": "unyo._call",
    "classify": "unyo._classify",
    "conversation": "unyo._conversations",
    "load_settings": "unyo._config",
    "register_profile": "unyo._profiles",
    "run_task": "unyo._tasks",
    "stream": "unyo._ask",
    "tool": "unyo._tools",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from unyo._ask import Answer, ask, stream
    from unyo._budget import BudgetConfig, BudgetWarning
    from unyo._call import Attempt, CallInfo, Usage, call_info
    from unyo._classify import Classification, classify
    from unyo._client import AsyncOpenAI, OpenAI
    from unyo._config import Settings, load_settings
    from unyo._conversations import Conversation, conversation
    from unyo._errors import *  # noqa: F403
    from unyo._pipeline import Pipeline
    from unyo._profiles import Profile, register_profile
    from unyo._stream import CancelToken, StreamResult, TextStream
    from unyo._structured import Parsed, ask_structured
    from unyo._tasks import Task, TaskResult, run_task
    from unyo._tool_loop import ToolAnswer, ToolCallRecord, ToolRequest, ask_with_tools
    from unyo._tools import Tool, ToolRegistry, tool


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unyo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
