"""The public surface is exactly unyo.__all__; drift fails here."""

import unyo

EXPECTED = {
    "APIError",
    "APIStatusError",
    "APITimeout",
    "Answer",
    "AsyncOpenAI",
    "Attempt",
    "AuthenticationError",
    "BadRequest",
    "BudgetConfig",
    "BudgetExceeded",
    "BudgetWarning",
    "CallInfo",
    "CancelToken",
    "Cancelled",
    "ConfigError",
    "Conflict",
    "ConnectionFailed",
    "ContextTooLong",
    "MalformedResponse",
    "NotFound",
    "OpenAI",
    "OutputInvalid",
    "Parsed",
    "PermissionDenied",
    "Pipeline",
    "Profile",
    "QuotaExhausted",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "Settings",
    "StreamInterrupted",
    "StreamResult",
    "TextStream",
    "TransportError",
    "Unprocessable",
    "UnpricedModel",
    "UnyoError",
    "Usage",
    "UsageError",
    "ask",
    "ask_structured",
    "call_info",
    "load_settings",
    "register_profile",
    "stream",
    # issue 4: tools, conversations, classification
    "Classification",
    "Conversation",
    "ConversationDenied",
    "Tool",
    "ToolAnswer",
    "ToolCallRecord",
    "ToolLoopExceeded",
    "ToolRegistry",
    "ToolRequest",
    "ask_with_tools",
    "classify",
    "conversation",
    "tool",
    # issue 5: tasks and batches
    "BadInput",
    "NotBatchable",
    "Task",
    "TaskResult",
    "run_task",
    # issue 12: the pipeline's parts, so a user can add a step without private imports
    "Call",
    "Step",
    "SHAPING_STEPS",
    "DEFAULT_STEPS",
    "DEFAULT_FINISHERS",
    "Result",
    # async all the way: an a-prefixed twin of every high-level function
    "AsyncTextStream",
    "aask",
    "aask_structured",
    "aask_with_tools",
    "aclassify",
    "aconversation",
    "agenerate_image",
    "generate_image",
    "GeneratedImages",
    "arun_task",
    "astream",
    # issue 17: fine-tuning
    "DatasetInvalid",
    "finetune",
    # issue 16: evals
    "evaluate",
    "aevaluate",
    # issue 15: answers from documents with citations
    "KnowledgeAnswer",
    "aanswer",
    "answer",
}


def test_exported_members() -> None:
    assert set(unyo.__all__) == EXPECTED
    assert unyo.__all__ == sorted(unyo.__all__)
    for name in unyo.__all__:
        assert getattr(unyo, name) is not None


def test_public_names_report_the_public_module() -> None:
    """Tracebacks and reprs say `unyo.RateLimited`, not where it happens to live (as httpx does)."""
    for name in unyo.__all__:
        value = getattr(unyo, name)
        if (isinstance(value, type) or callable(value)) and name != "Step":  # Step is a typing alias
            assert value.__module__ == "unyo", name
    from unyo._types._errors import RateLimited  # imported directly, before or after: the same name

    assert RateLimited.__module__ == "unyo" and repr(RateLimited("slow")) == "RateLimited('slow')"


def test_a_user_adds_a_step_without_private_imports() -> None:
    seen = []

    def tag_everything(call: unyo.Call) -> None:
        seen.append(call.api)
        call.info.tag = call.info.tag or "added-by-a-step"

    pipeline = unyo.Pipeline((*unyo.DEFAULT_STEPS, tag_everything), unyo.DEFAULT_FINISHERS)
    client = unyo.OpenAI(pipeline=pipeline)  # the local profile: no key, no network needed to prepare
    call = client.pipeline.prepare("responses", {"input": "hi"}, client.settings)
    assert seen == ["responses"] and call.info.tag == "added-by-a-step" and call.info.max_output_tokens


def test_every_error_is_in_the_one_hierarchy() -> None:
    from unyo._types import _errors

    for name in _errors.__all__:
        cls = getattr(_errors, name)
        assert issubclass(cls, unyo.UnyoError)
        assert name in unyo.__all__
        assert isinstance(cls.exit_code, int) and cls.hint_en and cls.hint_ja
        assert name in (_errors.__doc__ or ""), f"{name} is missing from the tree drawn in _errors.py"
