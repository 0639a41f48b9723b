"""Every error unyo raises, in one place.

    UnyoError                         exit 1 unless a subclass says otherwise
    ├── ConfigError                   3  bad or missing configuration (profile, key file, unyo.toml)
    │   └── UnpricedModel             3  a budget is set but the model has no price
    ├── BudgetExceeded                4  a budget refused the call before it was sent
    ├── Cancelled                     130 the caller stopped the call (Ctrl-C, cancel token)
    ├── OutputInvalid                 7  structured output still invalid after the repairs
    ├── ToolLoopExceeded              7  the model kept calling tools past the round cap
    ├── ConversationDenied            3  the conversation belongs to another user (or does not exist)
    ├── BadInput                      2  an input file that cannot be used (format, encoding, column)
    │   └── DatasetInvalid            7  a fine-tuning dataset the provider would reject (each line named)
    ├── NotBatchable                  2  a row needs a call the provider's Batch API did not make
    └── APIError                      the call reached (or tried to reach) a provider
        ├── TransportError            6  nothing usable came back
        │   ├── APITimeout            6  connect/read timeout, or the total deadline ran out
        │   ├── ConnectionFailed      6  DNS, refused, reset
        │   ├── MalformedResponse     6  a body that is not the JSON it claims to be (retried)
        │   └── StreamInterrupted     6  a stream broke after it started (partial text kept)
        └── APIStatusError            the server answered with an error status
            ├── AuthenticationError   3  401
            ├── PermissionDenied      3  403
            ├── NotFound              7  404 (unknown model, wrong base URL)
            ├── BadRequest            7  400
            │   └── ContextTooLong    7  input + output cap cannot fit the context window
            ├── RequestTimeout        6  408 (retried)
            ├── Conflict              6  409 (retried)
            ├── Unprocessable         7  422
            ├── RateLimited           5  429 rate limit (retried, Retry-After honoured)
            ├── QuotaExhausted        5  429 insufficient_quota (never retried)
            └── ServerError           6  5xx (retried)

Third-party exceptions (the openai SDK, httpx2) are turned into these in exactly one function,
`from_sdk`. Every message passes through `redact` before it is stored, so no key can reach an
error, its repr, a log line or a traceback.

Code written for the SDK keeps working after `from unyo import OpenAI`: each class is also the
matching `openai` exception (`RateLimited` and `QuotaExhausted` are `openai.RateLimitError`,
`AuthenticationError` is `openai.AuthenticationError`, `APITimeout` is `openai.APITimeoutError`,
`UnyoError` is `openai.OpenAIError`, ...; see `_SDK_BASES`). Importing the SDK takes about a
second, and `unyo usage` or `unyo --help` need none of it, so the SDK's classes join the bases
when the SDK is loaded (`adopt_sdk_bases`, run by every client and by `from_sdk`, and at import
if the SDK is already there). Until then the placeholder `_SdkSlot` holds their place.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

from unyo._types._lang import lang as _lang
from unyo._types._messages import Message
from unyo._types._redact import redact

__all__ = [
    "APIError",
    "APIStatusError",
    "APITimeout",
    "AuthenticationError",
    "BadInput",
    "BadRequest",
    "BudgetExceeded",
    "Cancelled",
    "ConfigError",
    "Conflict",
    "ConnectionFailed",
    "ContextTooLong",
    "ConversationDenied",
    "DatasetInvalid",
    "MalformedResponse",
    "NotBatchable",
    "NotFound",
    "OutputInvalid",
    "PermissionDenied",
    "QuotaExhausted",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "StreamInterrupted",
    "ToolLoopExceeded",
    "TransportError",
    "UnpricedModel",
    "UnyoError",
    "Unprocessable",
]


class _SdkSlot(Exception):
    """Where `openai.OpenAIError` goes once the SDK is loaded (the same memory layout)."""


class UnyoError(_SdkSlot):
    """Base of every unyo error. `hint()` says what to do next, in English or Japanese."""

    exit_code = 1
    hint_en = "This is a bug in unyo or an unexpected state; please report it with the output of `unyo doctor`."
    hint_ja = "unyo の不具合か想定外の状態です。`unyo doctor` の出力を添えて報告してください。"

    message_id: str | None = None  # the catalogue id (`_messages`), when unyo wrote the message itself
    params: dict[str, Any] = {}

    def __init__(self, message: str | Message, **context: Any) -> None:
        if isinstance(message, Message):
            self._message: Message | str = message
            self.message_id, self.params = message.id, message.params
        else:
            self._message = redact(str(message))
        for name, value in context.items():
            setattr(self, name, value)
        Exception.__init__(self, self.message)  # not the SDK's __init__: it wants an httpx request

    @property
    def message(self) -> str:
        """The message in the current language (UNYO_LANG); a provider's text as it was sent."""
        return self.message_in()

    @message.setter
    def message(self, text: str) -> None:
        self._message, self.message_id, self.params = redact(str(text)), None, {}

    @property
    def message_en(self) -> str:
        """The message in English whatever the language, for scripts that match on it."""
        return self.message_in("en")

    def message_in(self, lang: str | None = None) -> str:
        text = self._message
        return redact(text.render(lang)) if isinstance(text, Message) else text

    def hint(self, lang: str | None = None) -> str:
        return self.hint_ja if (lang or _lang()) == "ja" else self.hint_en

    def text(self, lang: str | None = None) -> str:
        """What `str()` shows, in `lang` (default: the current language)."""
        return self.message_in(lang)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(UnyoError):
    exit_code = 3
    hint_en = "Fix the configuration named above (env, .env or unyo.toml); `unyo doctor` checks it."
    hint_ja = "上記の設定 (環境変数・.env・unyo.toml) を修正してください。`unyo doctor` で確認できます。"


class UsageError(ConfigError):
    """The command or function was called wrongly (an unknown name, a missing or out-of-range
    argument); nothing was sent. A `ConfigError` too, so older `except ConfigError` still catches it."""

    exit_code = 2
    hint_en = "Check the arguments: `unyo COMMAND --help` lists the options, with examples."
    hint_ja = "引数を確認してください。`unyo COMMAND --help` でオプションと使用例を確認できます。"


def did_you_mean(word: str, choices: Any) -> Message:
    """ " (did you mean 'triage'?)" for a near miss among `choices`, else an empty message; a
    `Message`, so it follows the language inside a catalogue message or an f-string."""
    import difflib

    close = difflib.get_close_matches(word, sorted(map(str, choices)), n=1, cutoff=0.6)
    return Message("did_you_mean", word=close[0]) if close else Message("empty")


class UnpricedModel(ConfigError):
    hint_en = (
        'Add the model\'s price to unyo.toml under [models."ID"] (input, cached_input, output in USD per 1M tokens), '
        "or set allow_unpriced = true."
    )
    hint_ja = (
        'unyo.toml の [models."ID"] にモデルの価格 (input, cached_input, output: 100万トークンあたりの USD) '
        "を追加するか、allow_unpriced = true を設定してください。"
    )


class BudgetExceeded(UnyoError):
    exit_code = 4
    hint_en = "Raise the budget, wait for the next period, or use a cheaper model role."
    hint_ja = "予算を引き上げるか、次の期間まで待つか、より安価なモデルロールを使ってください。"


class OutputInvalid(UnyoError):
    """`last_output` holds the model's last text, `errors` what was wrong with it, `calls` each call's CallInfo."""

    exit_code = 7
    hint_en = (
        "Simplify the schema, raise the output cap or max_repairs, or use a stronger model role; "
        "the last output is on the error."
    )
    hint_ja = (
        "スキーマを簡単にする、出力上限や max_repairs を上げる、またはより強いモデルロールを使ってください。"
        "最後の出力はエラーに残っています。"
    )


class BadInput(UnyoError):
    exit_code = 2
    hint_en = "Fix the input file named above (format, encoding, column); nothing was sent."
    hint_ja = "上記の入力ファイル (形式・文字コード・列名) を修正してください。何も送信していません。"


class DatasetInvalid(BadInput):
    """`findings` holds every problem found, each with its line (`unyo finetune validate` prints them)."""

    exit_code = 7
    hint_en = "Fix the lines named above (`unyo finetune validate FILE` lists every problem); nothing was uploaded."
    hint_ja = (
        "上記の行を修正してください (`unyo finetune validate FILE` ですべての問題を表示します)。"
        "何もアップロードしていません。"
    )


class NotBatchable(UnyoError):
    """The row's task needed another call (a structured-output repair, a draft rewrite, a
    map-reduce step) after the one its batch answered; nothing more was sent."""

    exit_code = 2
    hint_en = (
        "Run the failed rows without --via batch-api: the same command with --retry-failed makes the extra calls "
        "synchronously."
    )
    hint_ja = (
        "失敗した行は --via batch-api を付けずに実行してください。同じコマンドに --retry-failed を付けると、"
        "追加の呼び出しを同期的に行います。"
    )


class ToolLoopExceeded(UnyoError):
    """`calls` holds each model call's CallInfo, `tool_calls` every tool call made before the stop."""

    exit_code = 7
    hint_en = "Raise max_rounds, give the model fewer or clearer tools, or ask a narrower question."
    hint_ja = "max_rounds を上げる、ツールを減らすか説明を明確にする、または質問を絞ってください。"


class ConversationDenied(UnyoError):
    """The same error whether the id is unknown or another user's, so ids cannot be probed."""

    exit_code = 3
    hint_en = (
        "Use a conversation id that belongs to this user (`unyo conversations list --user U`), or start a new one."
    )
    hint_ja = "このユーザーの会話 ID を指定するか (`unyo conversations list --user U`)、新しい会話を始めてください。"


class Cancelled(UnyoError):
    exit_code = 130
    hint_en = "The call was stopped on request; partial output, if any, is kept on the result."
    hint_ja = "要求により呼び出しを停止しました。途中までの出力は結果に残っています。"


@dataclass
class ErrorContext:
    """What is known about the failed call. Never holds a key."""

    provider: str | None = None
    host: str | None = None
    model: str | None = None
    request_id: str | None = None
    attempts: int = 0
    retry_after: float | None = None
    status: int | None = None
    code: str | None = None
    partial_text: str = ""


class APIError(UnyoError):
    """A call to a provider failed. Attributes: status, provider, host, model, request_id,
    attempts, retry_after, code (the provider's error code, e.g. `insufficient_quota`).
    The SDK's own attributes are there too: `status_code`, `response`, `request`, `body`."""

    retryable = False
    request: Any = None  # the SDK's httpx request and response, when the error came from one
    response: Any = None
    body: Any = None
    param: str | None = None
    type: str | None = None

    @property
    def status_code(self) -> int | None:
        return self.status  # type: ignore[attr-defined, no-any-return]

    def __init__(self, message: str | Message, ctx: ErrorContext | None = None) -> None:
        ctx = ctx or ErrorContext()
        super().__init__(message, **vars(ctx))

    def text(self, lang: str | None = None) -> str:
        where = " ".join(
            part
            for part in (
                f"status={self.status}" if self.status else "",
                f"provider={self.provider}" if self.provider else "",
                f"host={self.host}" if self.host else "",
                f"model={self.model}" if self.model else "",
                f"request_id={self.request_id}" if self.request_id else "",
                f"attempts={self.attempts}" if self.attempts else "",
                f"retry_after={self.retry_after:g}s" if self.retry_after is not None else "",
            )
            if part
        )
        message = self.message_in(lang)
        return f"{message} [{where}]" if where else message


class TransportError(APIError):
    exit_code = 6
    retryable = True
    hint_en = "The provider could not be reached or did not answer in time; check the network and base URL, then retry."
    hint_ja = "プロバイダに接続できないか応答がありません。ネットワークとベース URL を確認して再試行してください。"


class APITimeout(TransportError):
    hint_en = "The call timed out; raise UNYO_READ_TIMEOUT_S / UNYO_DEADLINE_S or lower the output cap."
    hint_ja = "タイムアウトしました。UNYO_READ_TIMEOUT_S / UNYO_DEADLINE_S を増やすか出力上限を下げてください。"


class ConnectionFailed(TransportError):
    hint_en = "Could not connect; check the base URL (OPENAI_BASE_URL / the profile) and that the server is running."
    hint_ja = "接続できません。ベース URL (OPENAI_BASE_URL / プロファイル) とサーバーの起動を確認してください。"


class MalformedResponse(TransportError):
    hint_en = (
        "The provider (or a proxy in between) returned a body that is not valid JSON; check the base URL and any proxy."
    )
    hint_ja = "プロバイダ (または途中のプロキシ) が不正な JSON を返しました。ベース URL とプロキシを確認してください。"


class StreamInterrupted(TransportError):
    retryable = False  # part of the answer was already delivered; replaying it would bill twice
    hint_en = "The stream broke mid-way; the partial text is kept on the error (`partial_text`). Retry the request."
    hint_ja = "ストリームが途中で切れました。途中までの本文は `partial_text` にあります。再実行してください。"


class APIStatusError(APIError):
    exit_code = 7
    hint_en = "The provider rejected the request; see the message above."
    hint_ja = "プロバイダがリクエストを拒否しました。上のメッセージを確認してください。"


class AuthenticationError(APIStatusError):
    exit_code = 3
    hint_en = "Check the API key (OPENAI_API_KEY or the profile's key variable) and its project permissions."
    hint_ja = "API キー (OPENAI_API_KEY またはプロファイルのキー変数) とプロジェクト権限を確認してください。"


class PermissionDenied(APIStatusError):
    exit_code = 3
    hint_en = "The key is valid but may not use this model or endpoint; check project/org permissions and region."
    hint_ja = (
        "キーは有効ですが、このモデル/エンドポイントの権限がありません。"
        "プロジェクト・組織の権限と地域を確認してください。"
    )


class NotFound(APIStatusError):
    hint_en = "Unknown model or endpoint; run `unyo models` to list what this profile serves, and check the base URL."
    hint_ja = (
        "モデルまたはエンドポイントが見つかりません。`unyo models` で利用可能なモデルとベース URL を確認してください。"
    )


class BadRequest(APIStatusError):
    hint_en = "The request is malformed for this provider; check parameters the model may not support."
    hint_ja = "リクエストがこのプロバイダで不正です。モデルが対応していないパラメータを確認してください。"


class ContextTooLong(BadRequest):
    hint_en = (
        "Input plus the output cap exceeds the model's context window; shorten the input, lower max_output_tokens, "
        "or pick a larger model."
    )
    hint_ja = (
        "入力と出力上限の合計がコンテキスト長を超えています。入力を短くするか出力上限を下げるか、"
        "より大きいモデルを使ってください。"
    )


class RequestTimeout(APIStatusError):
    exit_code = 6
    retryable = True
    hint_en = "The server timed out reading the request; it was retried. Try again later."
    hint_ja = "サーバー側でタイムアウトしました (再試行済み)。時間をおいて再実行してください。"


class Conflict(APIStatusError):
    exit_code = 6
    retryable = True
    hint_en = "The server reported a conflicting concurrent operation; it was retried. Try again."
    hint_ja = "競合が発生しました (再試行済み)。もう一度実行してください。"


class Unprocessable(APIStatusError):
    hint_en = "The server understood the request but cannot process it; check the input content and schema."
    hint_ja = "リクエストを処理できません。入力内容とスキーマを確認してください。"


class RateLimited(APIStatusError):
    exit_code = 5
    retryable = True
    hint_en = "Rate limit reached; wait `retry_after` seconds, lower concurrency, or set a client-side rpm/tpm limit."
    hint_ja = "レート制限に達しました。`retry_after` 秒待つか、並列数を下げるか、rpm/tpm 制限を設定してください。"


class QuotaExhausted(APIStatusError):
    exit_code = 5
    hint_en = (
        "The account's quota or credit is used up; add credit or raise the limit in the provider's billing settings. "
        "Retrying will not help."
    )
    hint_ja = (
        "アカウントのクォータ/クレジットが尽きています。請求設定でクレジット追加か上限引き上げを行ってください。"
        "再試行では解決しません。"
    )


class ServerError(APIStatusError):
    exit_code = 6
    retryable = True
    hint_en = "The provider had a server error (retried); check its status page and try again later."
    hint_ja = (
        "プロバイダ側のサーバーエラーです (再試行済み)。ステータスページを確認し、時間をおいて再実行してください。"
    )


_SDK_BASES: dict[type[UnyoError], str] = {  # base classes first
    UnyoError: "OpenAIError",
    APIError: "APIError",
    TransportError: "APIConnectionError",
    APITimeout: "APITimeoutError",
    APIStatusError: "APIStatusError",
    AuthenticationError: "AuthenticationError",
    PermissionDenied: "PermissionDeniedError",
    NotFound: "NotFoundError",
    BadRequest: "BadRequestError",
    Conflict: "ConflictError",
    Unprocessable: "UnprocessableEntityError",
    RateLimited: "RateLimitError",
    QuotaExhausted: "RateLimitError",
    ServerError: "InternalServerError",
}
_adopted = False
_adopt_lock = threading.Lock()


def adopt_sdk_bases() -> None:
    """Make each unyo error also the matching `openai` exception (idempotent, thread-safe)."""
    global _adopted
    if _adopted:
        return
    import openai

    with _adopt_lock:
        if _adopted:
            return
        for cls, name in _SDK_BASES.items():
            sdk = getattr(openai, name)
            own = tuple(b for b in cls.__bases__ if b is not _SdkSlot)
            cls.__bases__ = (sdk,) if cls is UnyoError else (*own, sdk)
        _adopted = True


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    422: Unprocessable,
    429: RateLimited,
}


def status_error_class(status: int, code: str | None, message: str) -> type[APIStatusError]:
    """The class for an HTTP error status and the provider's error code."""
    if status == 429 and (code == "insufficient_quota" or "quota" in message.lower()):
        return QuotaExhausted
    if status == 400 and (code == "context_length_exceeded" or "context length" in message.lower()):
        return ContextTooLong
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIStatusError)


def _duration(text: str) -> float | None:
    """OpenAI's rate-limit reset format: "1s", "6m0s", "20ms", "1h2m3.5s"."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date), else from
    the `x-ratelimit-reset-*` header of an exhausted limit."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        for kind in ("requests", "tokens"):
            reset = headers.get(f"x-ratelimit-reset-{kind}")
            if reset and headers.get(f"x-ratelimit-remaining-{kind}") == "0":
                return _duration(reset)
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _body_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from an OpenAI-style error body, tolerant of other providers' shapes."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = inner.get("code") or inner.get("type")
            message = inner.get("message")
            return (str(code) if code else None, str(message) if message else None)
        if isinstance(inner, str):
            return None, inner
    if isinstance(body, str):
        return None, body
    return None, None


def from_sdk(exc: BaseException, ctx: ErrorContext) -> UnyoError:
    """Map an exception from the openai SDK or httpx2 to unyo's hierarchy. The only such place."""
    import json

    import httpx2
    import openai

    adopt_sdk_bases()
    if isinstance(exc, UnyoError):
        return exc
    if isinstance(exc, json.JSONDecodeError):
        return MalformedResponse(f"response body is not valid JSON: {exc.msg} at position {exc.pos}", ctx)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code, body_message = _body_error(exc.body)
        message = body_message or exc.message
        cls = status_error_class(status, code, message)
        ctx.status, ctx.code = status, code
        ctx.request_id = ctx.request_id or exc.request_id
        ctx.retry_after = parse_retry_after(exc.response.headers)
        err = cls(message, ctx)
        err.request, err.response, err.body = exc.request, exc.response, exc.body
        return err
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
        return APITimeout("the request timed out", ctx)
    if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
        cause = exc.__cause__ or exc.__context__ or exc
        return ConnectionFailed(f"connection failed: {type(cause).__name__}: {cause}", ctx)
    if isinstance(exc, openai.APIError):  # an error event inside a stream, or an unparseable body
        code, body_message = _body_error(exc.body)
        ctx.code = code
        return StreamInterrupted(body_message or exc.message, ctx)
    if isinstance(exc, openai.OpenAIError):  # raised by the SDK before or after any request
        if "api_key" in str(exc) or "client option" in str(exc):
            return ConfigError(str(exc))
        return BadRequest(f"{type(exc).__name__}: {exc}", ctx)
    return UnyoError(f"{type(exc).__name__}: {exc}")


for _name in __all__:  # the public name, in tracebacks and reprs: unyo.RateLimited
    globals()[_name].__module__ = "unyo"

if "openai" in sys.modules:  # the SDK is already paid for: adopt its classes now
    adopt_sdk_bases()
