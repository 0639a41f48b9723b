"""The public surface is exactly unyo.__all__; drift fails here."""

import unyo

EXPECTED = {
    "APIError", "APIStatusError", "APITimeout", "Answer", "AsyncOpenAI", "Attempt", "AuthenticationError",
    "BadRequest", "BudgetConfig", "BudgetExceeded", "BudgetWarning", "CallInfo", "CancelToken", "Cancelled", "ConfigError", "Conflict",
    "ConnectionFailed", "ContextTooLong", "MalformedResponse", "NotFound", "OpenAI", "OutputInvalid", "Parsed", "PermissionDenied",
    "Pipeline", "Profile", "QuotaExhausted", "RateLimited", "RequestTimeout", "ServerError", "Settings",
    "StreamInterrupted", "StreamResult", "TextStream", "TransportError", "Unprocessable", "UnpricedModel", "UnyoError", "Usage",
    "ask", "ask_structured", "call_info", "load_settings", "register_profile", "stream",
    # issue 4: tools, conversations, classification
    "Classification", "Conversation", "ConversationDenied", "Tool", "ToolAnswer", "ToolCallRecord", "ToolLoopExceeded", "ToolRegistry",
    "ToolRequest", "ask_with_tools", "classify", "conversation", "tool",
    # issue 5: tasks and batches
    "BadInput", "NotBatchable", "Task", "TaskResult", "run_task",
}


def test_exported_members() -> None:
    assert set(unyo.__all__) == EXPECTED
    assert unyo.__all__ == sorted(unyo.__all__)
    for name in unyo.__all__:
        assert getattr(unyo, name) is not None


def test_every_error_is_in_the_one_hierarchy() -> None:
    from unyo import _errors

    for name in _errors.__all__:
        cls = getattr(_errors, name)
        assert issubclass(cls, unyo.UnyoError)
        assert name in unyo.__all__
        assert isinstance(cls.exit_code, int) and cls.hint_en and cls.hint_ja
        assert name in (_errors.__doc__ or ""), f"{name} is missing from the tree drawn in _errors.py"
