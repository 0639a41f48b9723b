"""What a `fine_tuning.jobs.create` call trains on, read from the request and the provider, not
taken on the caller's word (the reserve step `_money._fine_tuning` prices what this hands it).

    extra_body   the SDK merges it over the body, so a `model`, `method` or `hyperparameters`
                 there is lifted into the arguments unyo prices (`_lift_extra_body`)
    tokens       under a budget, the uploaded training file is counted (`files.content`, a free
                 read; `_providers._training_tokens`); where the provider does not let a
                 fine-tune file be downloaded, its size in bytes bounds the tokens (every token is
                 at least one byte). The count held is the larger of that and the caller's
                 `unyo_training_tokens`: a figure that is too small is never believed. A file
                 `unyo finetune create` counted and uploaded itself is not read back (`vouch`)
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

CREATE = ("fine_tuning", "jobs", "create")
_counted: dict[str, int] = {}  # file id -> tokens per epoch, for files this process counted and uploaded
_lock = threading.Lock()


def vouch(file_id: str, tokens: int) -> None:
    """`unyo finetune create` counted this file from its own bytes before uploading it: no need
    to read it back (the provider may refuse to, and its size is a loose bound)."""
    with _lock:
        _counted[file_id] = tokens


def _vouched(kwargs: dict[str, Any], file_id: str) -> dict[str, Any] | None:
    with _lock:
        tokens = _counted.get(file_id)
    return None if tokens is None else _merge(kwargs, tokens)


def _wanted(client: Any, path: tuple[str, ...], kwargs: dict[str, Any]) -> str | None:
    """The training file to count, or None when nothing needs counting."""
    settings = client.settings
    file_id = kwargs.get("training_file")
    if path != CREATE or not settings.budget.limits or settings.profile.free or not isinstance(file_id, str):
        return None
    from unyo._money._fine_tuning import _unpriceable, epochs_of
    from unyo._providers._fine_tuning import training_price

    base = str(kwargs.get("model") or "")
    if _unpriceable(kwargs, base, training_price(base, settings.models), 0, epochs_of(kwargs)) is not None:
        return None  # refused whatever the file holds: nothing to read
    return file_id


def _encoding(client: Any, kwargs: dict[str, Any]) -> str:
    from unyo._providers._catalog import model_info

    return str(model_info(str(kwargs.get("model") or ""), client.settings.models).tokenizer)


def _merge(kwargs: dict[str, Any], counted: int | None) -> dict[str, Any]:
    given = kwargs.get("unyo_training_tokens")
    if counted is None:
        return kwargs
    trusted = given if isinstance(given, int) and not isinstance(given, bool) else 0
    return {**kwargs, "unyo_training_tokens": max(trusted, counted)}


def _tokens_of(content: bytes | None, size: int | None, encoding: str) -> int | None:
    from unyo._providers._training_tokens import file_tokens

    if content is not None:
        return file_tokens(content, encoding)
    return size


def counted(client: Any, path: tuple[str, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with extra_body lifted and the training file's tokens counted (sync client)."""
    from unyo._client._openai import _lift_extra_body

    kwargs = _lift_extra_body(client._method(path)[0], kwargs) if path == CREATE else kwargs
    file_id = _wanted(client, path, kwargs)
    if file_id is None:
        return kwargs
    vouched = _vouched(kwargs, file_id)
    if vouched is not None:
        return vouched
    content, size = None, None
    try:
        content = client.raw.files.content(file_id).content
    except Exception:  # noqa: BLE001 - refused (fine-tune files may not be downloadable) or missing
        try:
            size = int(client.raw.files.retrieve(file_id).bytes)
        except Exception:  # noqa: BLE001 - no such file: the create is refused by the provider
            return kwargs
    return _merge(kwargs, _tokens_of(content, size, _encoding(client, kwargs)))


async def acounted(client: Any, path: tuple[str, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The async twin of `counted`, on an AsyncOpenAI."""
    from unyo._client._openai import _lift_extra_body

    kwargs = _lift_extra_body(client._method(path)[0], kwargs) if path == CREATE else kwargs
    file_id = _wanted(client, path, kwargs)
    if file_id is None:
        return kwargs
    vouched = _vouched(kwargs, file_id)
    if vouched is not None:
        return vouched
    content, size = None, None
    try:
        answer = client.raw.files.content(file_id)
        answer = await answer if inspect.isawaitable(answer) else answer
        content = answer.content
    except Exception:  # noqa: BLE001 - see counted()
        try:
            size = int((await client.raw.files.retrieve(file_id)).bytes)
        except Exception:  # noqa: BLE001
            return kwargs
    from unyo._core._offload import offload

    return _merge(kwargs, await offload(_tokens_of, content, size, _encoding(client, kwargs)))
