"""unyo (運用): put LLM API calls into production safely, predictably and within budget.

The public API is exactly `__all__`; everything in `_modules` is private. Names are loaded
lazily so `import unyo` (and `unyo --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "APIError": "unyo._types._errors",
    "APIStatusError": "unyo._types._errors",
    "APITimeout": "unyo._types._errors",
    "Answer": "unyo._quality._ask",
    "AsyncOpenAI": "unyo._client._openai",
    "Attempt": "unyo._types._call",
    "AuthenticationError": "unyo._types._errors",
    "BadInput": "unyo._types._errors",
    "BadRequest": "unyo._types._errors",
    "NotBatchable": "unyo._types._errors",
    "BudgetConfig": "unyo._core._limits",
    "BudgetExceeded": "unyo._types._errors",
    "BudgetWarning": "unyo._money._budget",
    "CallInfo": "unyo._types._call",
    "Classification": "unyo._quality._classify",
    "CancelToken": "unyo._core._stream",
    "Cancelled": "unyo._types._errors",
    "ConfigError": "unyo._types._errors",
    "UsageError": "unyo._types._errors",
    "Conflict": "unyo._types._errors",
    "Conversation": "unyo._quality._conversations",
    "ConnectionFailed": "unyo._types._errors",
    "ContextTooLong": "unyo._types._errors",
    "ConversationDenied": "unyo._types._errors",
    "DatasetInvalid": "unyo._types._errors",
    "MalformedResponse": "unyo._types._errors",
    "NotFound": "unyo._types._errors",
    "OpenAI": "unyo._client._openai",
    "OutputInvalid": "unyo._types._errors",
    "Parsed": "unyo._quality._structured",
    "Result": "unyo._types._call",
    "PermissionDenied": "unyo._types._errors",
    "Pipeline": "unyo._core._pipeline",
    "Call": "unyo._core._call",
    "Step": "unyo._core._call",
    "DEFAULT_STEPS": "unyo._client._defaults",
    "DEFAULT_FINISHERS": "unyo._client._defaults",
    "SHAPING_STEPS": "unyo._core._steps",
    "Profile": "unyo._providers._profiles",
    "QuotaExhausted": "unyo._types._errors",
    "RateLimited": "unyo._types._errors",
    "RequestTimeout": "unyo._types._errors",
    "ServerError": "unyo._types._errors",
    "Settings": "unyo._core._config",
    "StreamInterrupted": "unyo._types._errors",
    "StreamResult": "unyo._core._stream",
    "Task": "unyo._jobs._tasks",
    "TaskResult": "unyo._jobs._tasks",
    "TextStream": "unyo._core._stream",
    "Tool": "unyo._quality._tools",
    "ToolAnswer": "unyo._quality._tool_loop",
    "ToolCallRecord": "unyo._quality._tool_loop",
    "ToolLoopExceeded": "unyo._types._errors",
    "ToolRegistry": "unyo._quality._tools",
    "ToolRequest": "unyo._quality._tool_loop",
    "TransportError": "unyo._types._errors",
    "Unprocessable": "unyo._types._errors",
    "UnpricedModel": "unyo._types._errors",
    "UnyoError": "unyo._types._errors",
    "Usage": "unyo._types._call",
    "AsyncTextStream": "unyo._core._stream",
    "aask": "unyo._quality._ask",
    "aask_structured": "unyo._quality._structured",
    "aask_with_tools": "unyo._quality._tool_loop",
    "aclassify": "unyo._quality._classify",
    "aconversation": "unyo._quality._conversations",
    "agenerate_image": "unyo._quality._image_gen",
    "generate_image": "unyo._quality._image_gen",
    "GeneratedImages": "unyo._quality._image_gen",
    "arun_task": "unyo._jobs._tasks",
    "aevaluate": "unyo._evals",
    "evaluate": "unyo._evals",
    "astream": "unyo._quality._ask",
    "ask": "unyo._quality._ask",
    "ask_structured": "unyo._quality._structured",
    "ask_with_tools": "unyo._quality._tool_loop",
    "call_info": "unyo._types._call",
    "classify": "unyo._quality._classify",
    "conversation": "unyo._quality._conversations",
    "finetune": "unyo._jobs._finetune",
    "load_settings": "unyo._core._config",
    "register_profile": "unyo._providers._profiles",
    "run_task": "unyo._jobs._tasks",
    "stream": "unyo._quality._ask",
    "tool": "unyo._quality._tools",
    "KnowledgeAnswer": "unyo._knowledge._answer",
    "aanswer": "unyo._knowledge._answer",
    "answer": "unyo._knowledge._answer",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from unyo._client._defaults import DEFAULT_FINISHERS, DEFAULT_STEPS
    from unyo._client._openai import AsyncOpenAI, OpenAI
    from unyo._core._call import Call, Step
    from unyo._core._config import Settings, load_settings
    from unyo._core._limits import BudgetConfig
    from unyo._core._pipeline import Pipeline
    from unyo._core._steps import SHAPING_STEPS
    from unyo._core._stream import AsyncTextStream, CancelToken, StreamResult, TextStream
    from unyo._evals import aevaluate, evaluate
    from unyo._jobs._tasks import Task, TaskResult, arun_task, run_task
    from unyo._knowledge._answer import KnowledgeAnswer, aanswer, answer
    from unyo._money._budget import BudgetWarning
    from unyo._providers._profiles import Profile, register_profile
    from unyo._quality._ask import Answer, aask, ask, astream, stream
    from unyo._quality._classify import Classification, aclassify, classify
    from unyo._quality._conversations import Conversation, aconversation, conversation
    from unyo._quality._image_gen import GeneratedImages, agenerate_image, generate_image
    from unyo._quality._structured import Parsed, aask_structured, ask_structured
    from unyo._quality._tool_loop import ToolAnswer, ToolCallRecord, ToolRequest, aask_with_tools, ask_with_tools
    from unyo._quality._tools import Tool, ToolRegistry, tool
    from unyo._types._call import Attempt, CallInfo, Result, Usage, call_info
    from unyo._types._errors import *  # noqa: F403


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unyo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if (isinstance(value, type) or callable(value)) and getattr(value, "__module__", "").startswith("unyo."):
        try:
            value.__module__ = "unyo"  # tracebacks say unyo.RateLimited, as httpx does
        except (AttributeError, TypeError):
            pass
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
