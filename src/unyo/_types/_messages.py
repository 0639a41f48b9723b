"""unyo's own messages, by id, in English and Japanese.

    CATALOGUE["task.unknown"]         Template(en="no task named {name!r}{suggestion}; ...", ja="...")
    msg("task.unknown", name=...)     the text now, in the current language (`lang()`: UNYO_LANG ...)
    Message("task.unknown", name=...) the same, kept unrendered: an error holds one, so `str(err)`
                                      follows the language and `err.message_en` stays English

Templates use str.format with named fields (`{name}`, `{name!r}`); a field whose value is itself
a `Message` is rendered in the same language, so "did you mean" suffixes and confirmation phrases
nest. The `argparse.*` ids are argparse's own msgids (printf style, matched verbatim) with their
Japanese; `_cli/_argparse_ja` hands them to argparse. Text from a provider is never translated.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from unyo._types._lang import lang as _lang


class Template(NamedTuple):
    en: str
    ja: str


class Message:
    """A catalogue id and its parameters; `render(lang)` gives the text. `str()` uses the current language."""

    __slots__ = ("id", "params")

    def __init__(self, message_id: str, /, **params: Any) -> None:
        if message_id not in CATALOGUE:
            raise KeyError(f"no message {message_id!r} in the catalogue")
        self.id = message_id
        self.params = params

    def render(self, lang: str | None = None) -> str:
        language = lang or _lang()
        template = CATALOGUE[self.id]
        text = template.ja if language == "ja" else template.en
        if self.id.startswith("argparse."):
            return text  # argparse fills it with `%`
        values = {k: v.render(language) if isinstance(v, Message) else v for k, v in self.params.items()}
        return text.format(**values)

    @property
    def en(self) -> str:
        return self.render("en")

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return format(self.render(), spec)

    def __repr__(self) -> str:
        return f"Message({self.id!r}, {self.params!r})"


def msg(message_id: str, /, **params: Any) -> str:
    """The message `message_id` in the current language."""
    return Message(message_id, **params).render()


def os_reason(exc: OSError) -> Message | str:
    """Why a file could not be used, in the current language for the common cases, else the OS's text."""
    import errno

    known = {errno.ENOENT: "os.not_found", errno.EACCES: "os.permission", errno.EISDIR: "os.is_directory"}
    return Message(known[exc.errno]) if exc.errno in known else str(exc.strerror or exc)


_JSON_REASONS = {  # what the json module says, in the catalogue's words
    "Expecting value": "json.expecting_value",
    "Expecting property name enclosed in double quotes": "json.expecting_property_name",
    "Expecting ',' delimiter": "json.expecting_comma",
    "Expecting ':' delimiter": "json.expecting_colon",
    "Unterminated string starting at": "json.unterminated_string",
    "Invalid control character at": "json.invalid_control",
    "Invalid \\escape": "json.invalid_escape",
    "Extra data": "json.extra_data",
}


def json_reason(exc: Any) -> Message | str:
    """What is wrong with a JSON text (a `json.JSONDecodeError`), in the current language when known."""
    reason = str(getattr(exc, "msg", exc))
    return Message(_JSON_REASONS[reason]) if reason in _JSON_REASONS else reason


_T = Template
CATALOGUE: dict[str, Template] = {
    "empty": _T("", ""),
    # --- suggestions -----------------------------------------------------------------------------------------------
    "did_you_mean": _T(" (did you mean {word!r}?)", " (もしかして {word!r}?)"),
    # --- argparse's own messages (its msgids verbatim; printf style) ------------------------------------------------
    "argparse.error": _T("%(prog)s: error: %(message)s\n", "%(prog)s: エラー: %(message)s\n"),
    "argparse.argument": _T("argument %(argument_name)s: %(message)s", "引数 %(argument_name)s: %(message)s"),
    "argparse.invalid_choice": _T(
        "invalid choice: %(value)r (choose from %(choices)s)", "不正な選択肢です: %(value)r (選べるもの: %(choices)s)"
    ),
    "argparse.invalid_value": _T("invalid %(type)s value: %(value)r", "%(type)s として不正な値です: %(value)r"),
    "argparse.required": _T("the following arguments are required: %s", "次の引数を指定してください: %s"),
    "argparse.one_of_required": _T("one of the arguments %s is required", "次の引数のどれかを指定してください: %s"),
    "argparse.unrecognized": _T("unrecognized arguments: %s", "認識できない引数です: %s"),
    "argparse.not_allowed_with": _T("not allowed with argument %s", "引数 %s と同時には指定できません"),
    "argparse.ignored_explicit": _T("ignored explicit argument %r", "このオプションは値を取りません: %r"),
    "argparse.expected_one": _T("expected one argument", "値を 1 つ指定してください"),
    "argparse.expected_at_most_one": _T("expected at most one argument", "値は 1 つまでです"),
    "argparse.expected_at_least_one": _T("expected at least one argument", "値を 1 つ以上指定してください"),
    "argparse.expected_n": _T("expected %s argument", "値を %s 個指定してください"),
    "argparse.expected_n_plural": _T("expected %s arguments", "値を %s 個指定してください"),
    "argparse.ambiguous": _T(
        "ambiguous option: %(option)s could match %(matches)s",
        "あいまいなオプションです: %(option)s は %(matches)s のどれとも取れます",
    ),
    "argparse.unexpected_option": _T("unexpected option string: %s", "想定外のオプションです: %s"),
    "argparse.cannot_open": _T("can't open '%(filename)s': %(error)s", "'%(filename)s' を開けません: %(error)s"),
    # --- argument values (argparse types) ---------------------------------------------------------------------------
    "arg.not_whole_number": _T("{text!r} is not a whole number", "{text!r} は整数ではありません"),
    "arg.at_least_1": _T("must be at least 1, got {value}", "1 以上にしてください (指定値: {value})"),
    "arg.not_number": _T("{text!r} is not a number", "{text!r} は数値ではありません"),
    "arg.temperature_range": _T(
        "must be between 0 and 2, got {value:g}", "0 から 2 の範囲にしてください (指定値: {value:g})"
    ),
    # --- tasks (`unyo run TASK`, task.toml) --------------------------------------------------------------------------
    "task.unknown": _T(
        "no task named {name!r}{suggestion}; `unyo tasks list` shows them",
        "タスク {name!r} はありません{suggestion}。`unyo tasks list` で一覧を表示できます",
    ),
    "task.bad_name": _T(
        "task names are letters, digits, '_' and '-', got {name!r}",
        "タスク名に使えるのは英数字と '_'、'-' だけです (指定値: {name!r})",
    ),
    "task.no_option": _T(
        "task {task} has no option {key!r}{suggestion}; options: {options}",
        "タスク {task} にオプション {key!r} はありません{suggestion}。使えるオプション: {options}",
    ),
    "task.option_bool": _T(
        "option {key} is true or false, got {value!r}", "オプション {key} は true か false です (指定値: {value!r})"
    ),
    "task.option_number": _T(
        "option {key} is a number, got {value!r}", "オプション {key} は数値です (指定値: {value!r})"
    ),
    "task.template_variable": _T(
        "task {task}: template refers to an unknown or malformed variable ({detail})",
        "タスク {task}: テンプレートが未知または不正な変数を参照しています ({detail})",
    ),
    "task.schema_placeholder": _T(
        "task {task}: schema placeholder {node} needs a non-empty list option",
        "タスク {task}: スキーマのプレースホルダ {node} には空でないリストのオプションが必要です",
    ),
    "task.file_missing": _T("task {task}: {path} is missing", "タスク {task}: {path} がありません"),
    "task.bad_toml": _T(
        "task {task}: task.toml is not valid TOML ({detail})",
        "タスク {task}: task.toml が正しい TOML ではありません ({detail})",
    ),
    "task.bad_schema_json": _T(
        "task {task}: schema.json is not valid JSON ({detail}, line {line})",
        "タスク {task}: schema.json が正しい JSON ではありません ({detail}、{line} 行目)",
    ),
    "task.unknown_keys": _T(
        "task {task}: unknown keys in task.toml: {keys}", "タスク {task}: task.toml に未知のキーがあります: {keys}"
    ),
    # --- the json module's reasons -----------------------------------------------------------------------------------
    "json.expecting_value": _T("Expecting value", "値がありません"),
    "json.expecting_property_name": _T(
        "Expecting property name enclosed in double quotes", "ダブルクォートで囲んだプロパティ名がありません"
    ),
    "json.expecting_comma": _T("Expecting ',' delimiter", "区切りの ',' がありません"),
    "json.expecting_colon": _T("Expecting ':' delimiter", "区切りの ':' がありません"),
    "json.unterminated_string": _T("Unterminated string starting at", "文字列が閉じていません"),
    "json.invalid_control": _T("Invalid control character at", "不正な制御文字があります"),
    "json.invalid_escape": _T("Invalid \\escape", "不正なエスケープです"),
    "json.extra_data": _T("Extra data", "余分なデータがあります"),
    # --- the OS's reasons, for the common cases ----------------------------------------------------------------------
    "os.not_found": _T("No such file or directory", "ファイルまたはディレクトリがありません"),
    "os.permission": _T("Permission denied", "アクセスが拒否されました"),
    "os.is_directory": _T("Is a directory", "ディレクトリです"),
    # --- output schemas (--schema, structured output) ---------------------------------------------------------------
    "schema.wrong_type": _T(
        "a schema must be a Pydantic model class or a JSON Schema dict, got {got}",
        "スキーマは Pydantic モデルのクラスか JSON Schema の dict にしてください (指定: {got})",
    ),
    "schema.root_not_object": _T(
        "the root of an output schema must be an object (wrap a list or a value in a property)",
        "出力スキーマのルートは object にしてください (リストや値はプロパティで包んでください)",
    ),
    "schema.invalid": _T("invalid JSON Schema: {detail}", "JSON Schema が不正です: {detail}"),
    "schema.unreadable": _T("--schema {spec}: {reason}", "--schema {spec}: {reason}"),
    "schema.bad_json": _T(
        "--schema {spec}: not valid JSON ({detail}, line {line})",
        "--schema {spec}: 正しい JSON ではありません ({detail}、{line} 行目)",
    ),
    "schema.bad_spec": _T(
        "--schema {spec}: give a .json file or module:Model",
        "--schema {spec}: .json ファイルか module:Model を指定してください",
    ),
    "schema.cannot_load": _T(
        "--schema {spec}: cannot load it ({detail})", "--schema {spec}: 読み込めません ({detail})"
    ),
    "schema.output_cut": _T(
        "the output was cut at the cap of {cap} tokens ({error})",
        "出力が上限の {cap} トークンで切れました ({error})",
    ),
    "schema.output_invalid": _T(
        "the output did not match the schema after {calls} calls ({repairs} repairs): {error}",
        "{calls} 回の呼び出し (修正 {repairs} 回) の後も出力がスキーマに合いませんでした: {error}",
    ),
    "schema.max_repairs": _T("max_repairs must be 0 or more", "max_repairs は 0 以上にしてください"),
    "schema.needed": _T(
        "task {task} needs an output schema: give --schema FILE.json|module:Model",
        "タスク {task} には出力スキーマが必要です。--schema FILE.json|module:Model を指定してください",
    ),
    "schema.task_has_none": _T("task {task} has no schema.json", "タスク {task} には schema.json がありません"),
    "task.summarise_empty": _T("nothing to summarise: the input is empty", "要約するものがありません: 入力が空です"),
    "task.input_empty": _T("the input text is empty", "入力テキストが空です"),
    "task.needs_labels": _T(
        "task {task} needs labels: --labels FILE (TOML/JSON: [[labels]] name, description, examples), "
        "--set labels=a,b,c, or labels_file in [tasks.{task}] of unyo.toml",
        "タスク {task} にはラベルが必要です。--labels FILE (TOML/JSON: [[labels]] の name・description・examples)、"
        "--set labels=a,b,c、または unyo.toml の [tasks.{task}] の labels_file で指定してください",
    ),
    "task.no_embedding_fields": _T(
        "task {task} has no fields to classify by embeddings (embedding_fields in task.toml)",
        "タスク {task} には埋め込みで分類するフィールドがありません (task.toml の embedding_fields)",
    ),
    "task.field_not_label_enum": _T(
        "task {task}: field {field!r} must be an enum of the labels ({labels}); schema.json has {enum!r}",
        "タスク {task}: フィールド {field!r} はラベル ({labels}) の enum にしてください。schema.json の値: {enum!r}",
    ),
    # --- the prompt and its files (ask, run, image) -----------------------------------------------------------------
    "prompt.none": _T(
        "no prompt: pass it as an argument or pipe it on stdin (unyo ask - < file)",
        "プロンプトがありません。引数で渡すか標準入力から流し込んでください (unyo ask - < file)",
    ),
    "prompt.empty": _T("the prompt is empty", "プロンプトが空です"),
    "input.not_a_file": _T("{path}: not a file", "{path}: ファイルではありません"),
    "input.file_too_big": _T(
        "{path}: {size:,} bytes is more than any model reads at once (limit {limit:,})",
        "{path}: {size:,} バイトはモデルが一度に読める量を超えています (上限 {limit:,})",
    ),
    "input.no_such_file": _T(
        "{path}: no such file (write @@{literal} for a literal '@')",
        "{path}: そのようなファイルはありません ('@' そのものを書くには @@{literal} と書いてください)",
    ),
    "input.unreadable": _T("{path}: {reason}", "{path}: {reason}"),
    "input.binary": _T(
        "{where}: binary data, not text (images go with --image)",
        "{where}: テキストではなくバイナリデータです (画像は --image で渡してください)",
    ),
    "input.not_utf8": _T(
        "{where}: not UTF-8 text (byte {byte}); convert it first, e.g. iconv -f cp932",
        "{where}: UTF-8 のテキストではありません ({byte} バイト目)。先に変換してください (例: iconv -f cp932)",
    ),
    "input.stdin_too_big": _T("stdin: more than {limit:,} bytes", "標準入力: {limit:,} バイトを超えています"),
    # --- the CLI's frames ---------------------------------------------------------------------------------------------
    "label.warning": _T("warning", "警告"),
    # --- --since ----------------------------------------------------------------------------------------------------
    "since.no_such_week": _T("--since {text!r}: no such ISO week", "--since {text!r}: その ISO 週はありません"),
    "since.bad": _T(
        "--since {text!r}: give a duration (90m, 24h, 7d, 2w), today, yesterday, a date (2026-11-01), "
        "a time (2026-11-01T09:00) or an ISO week (2026-W48)",
        "--since {text!r}: 期間 (90m, 24h, 7d, 2w)、today、yesterday、日付 (2026-11-01)、"
        "日時 (2026-11-01T09:00)、ISO 週 (2026-W48) のいずれかを指定してください",
    ),
    # --- confirmations (logs prune, conversations rm, keys revoke|rotate) -------------------------------------------
    "confirm.question": _T("{action}.\nProceed? [y/N] ", "{action}。\n実行しますか? [y/N] "),
    "confirm.not_a_terminal": _T(
        "this would {action}; stdin is not a terminal, so {untouched}: pass --yes to confirm",
        "実行すると次のとおりです: {action}。標準入力が端末ではないため{untouched}。"
        "実行するには --yes を付けてください",
    ),
    "confirm.nothing_deleted": _T("nothing was deleted", "何も削除していません"),
    "confirm.nothing_changed": _T("nothing was changed", "何も変更していません"),
    "conversations.rm_action": _T(
        "delete conversation {id} of user {user} and its turns", "ユーザー {user} の会話 {id} とそのターンを削除します"
    ),
    "conversations.needs_id_and_user": _T(
        "conversations {action} needs an id and --user", "conversations {action} には会話 ID と --user が必要です"
    ),
    "conversations.deleted": _T(
        "deleted conversation {id} ({turns} turns)", "会話 {id} を削除しました ({turns} ターン)"
    ),
    "keys.revoke_action": _T("revoke key {id} ({name}, {hint})", "キー {id} ({name}, {hint}) を取り消します"),
    "keys.rotate_action": _T(
        "rotate (the old key stops working) key {id} ({name}, {hint})",
        "キー {id} ({name}, {hint}) を更新します (古いキーは使えなくなります)",
    ),
    "logs.prune_action": _T(
        "delete {calls} audit records, {tool_calls} tool-call records and {conversations} stored conversations "
        "older than {days:g} days from {location}; records since {kept_from} (the current budget periods) are kept"
        "{scrubbed}",
        "{location} から {days:g} 日より古い監査記録 {calls} 件、ツール呼び出し記録 {tool_calls} 件、"
        "保存済みの会話 {conversations} 件を削除します。{kept_from} 以降の記録 (現在の予算期間) は残します{scrubbed}",
    ),
    "logs.prune_scrubbed": _T(
        ", {count} of them with their prompt and output text cleared",
        " (うち {count} 件はプロンプトと出力の本文を消去します)",
    ),
    "logs.pruned": _T(
        "removed {removed} audit records older than {days:g} days from {location} "
        "(records since {kept_from}, which the current budgets count, are kept)",
        "{location} から {days:g} 日より古い監査記録を {removed} 件削除しました "
        "({kept_from} 以降の記録は現在の予算が数えるため残しています)",
    ),
    "logs.bad_days": _T(
        "--days {days:g}: give a number of days >= 0", "--days {days:g}: 0 以上の日数を指定してください"
    ),
    "logs.export_needs_file": _T("logs export needs a FILE to write", "logs export には書き出す FILE が必要です"),
    "logs.exported": _T("exported {count} records to {file}", "{count} 件の記録を {file} に書き出しました"),
    "logs.empty": _T("no calls logged yet ({location})", "まだ呼び出しの記録はありません ({location})"),
    "logs.empty_filtered": _T(
        "no calls logged match these filters ({location})", "条件に合う呼び出しの記録はありません ({location})"
    ),
    # --- budgets: limits, refusals, warnings -------------------------------------------------------------------------
    "budget.limit": _T("{who}{period} limit ${usd}", "{who}{period}上限 ${usd}"),
    "budget.scope_user": _T("per-user ", "ユーザーごとの"),
    "budget.scope_named": _T("{scope} ", "{scope} の"),
    "budget.period_request": _T("request", "1 回あたりの"),
    "budget.period_day": _T("day", "日次"),
    "budget.period_month": _T("month", "月次"),
    "budget.period_total": _T("total", "合計の"),
    "budget.not_an_amount": _T(
        "{origin}: expected an amount in USD, got {got!r}", "{origin}: USD の金額を指定してください (指定値: {got!r})"
    ),
    "budget.negative": _T("budget {limit} is negative", "予算 {limit} が負の値です"),
    "budget.on_exceeded": _T(
        "on_budget_exceeded must be 'stop' or 'downgrade', got {got!r}",
        "on_budget_exceeded は 'stop' か 'downgrade' にしてください (指定値: {got!r})",
    ),
    "budget.soft_threshold": _T(
        "soft_threshold must be in (0, 1], got {got}",
        "soft_threshold は 0 より大きく 1 以下にしてください (指定値: {got})",
    ),
    "budget.tz": _T(
        "budget_tz {got!r} is not a known time zone (e.g. Asia/Tokyo)",
        "budget_tz {got!r} は既知のタイムゾーンではありません (例: Asia/Tokyo)",
    ),
    "budget.exceeded": _T(
        "{limit}{when} would be exceeded: spent ${spent}, reserved ${reserved}, "
        "this call's worst case ${asked} ({model}, {what}); not sent",
        "{limit}{when}を超えるため送信しませんでした: 使用済み ${spent}、予約中 ${reserved}、"
        "この呼び出しの最悪ケース ${asked} ({model}, {what})",
    ),
    "budget.exceeded_when": _T(" for {period}", " ({period})"),
    "budget.asked_tokens": _T(
        "{input} input tokens + {cap} output cap", "入力 {input} トークン + 出力上限 {cap} トークン"
    ),
    "config.profile_lacks": _T(
        "{what} needs a profile with {capability}; profile {name!r} has none (profiles that do: {others}); "
        "nothing was sent",
        "{what} には {capability} のあるプロファイルが必要ですが、プロファイル {name!r} にはありません "
        "(あるプロファイル: {others})。何も送信していません",
    ),
    "budget.asked_tools": _T(
        "{input} input tokens + {cap} output cap + up to {calls} {tools} calls (${usd} + {tokens} result tokens)",
        "入力 {input} トークン + 出力上限 {cap} トークン + {tools} の呼び出し最大 {calls} 回 "
        "(${usd} + 結果 {tokens} トークン)",
    ),
    "budget.warning": _T(
        "unyo: {limit} ({period}) is {share:.0%} used: ${spent} spent, ${reserved} reserved",
        "unyo: {limit} ({period}) の {share:.0%} を使いました: 使用済み ${spent}、予約中 ${reserved}",
    ),
    "unpriced.audio_length": _T(
        "{api} ({model}): the audio's length cannot be read before sending (unyo reads WAV headers), "
        "so its worst case is unknown and a budget is set: not sent. Convert it to WAV, or set "
        "allow_unpriced = true under [unyo] to run it unbudgeted knowingly (the reported usage is still recorded)",
        "{api} ({model}): 音声の長さを送信前に読めない (unyo が読めるのは WAV のヘッダー) ため最悪ケースが分からず、"
        "予算が設定されているので送信しませんでした。WAV に変換するか、予算なしで実行することを承知のうえで "
        "[unyo] に allow_unpriced = true を設定してください (報告された使用量は記録されます)",
    ),
    "unpriced.api": _T(
        "{what} cannot be priced by unyo, and a budget is set: unyo cannot cap what it cannot price, so it was not "
        "sent. Set allow_unpriced = true under [unyo] (UNYO_ALLOW_UNPRICED=1) to run it unbudgeted knowingly; "
        "it is recorded in the audit log either way",
        "{what} は unyo が価格を計算できず、予算が設定されています。価格の分からない呼び出しには上限をかけられないため"
        "送信しませんでした。予算なしで実行することを承知のうえなら [unyo] に allow_unpriced = true "
        "(UNYO_ALLOW_UNPRICED=1) を設定してください。どちらの場合も監査ログに記録されます",
    ),
    "unpriced.model": _T(
        "model {model!r} has no price, and a budget is set: unyo cannot cap what it cannot price. "
        'Add its price to unyo.toml:  [models."{model}"] input = "0.40"  cached_input = "0.10"  output = "1.60"  '
        "(USD per 1M tokens), or set allow_unpriced = true under [unyo] to run it unbudgeted knowingly",
        "モデル {model!r} には価格がなく、予算が設定されています。価格の分からない呼び出しには上限をかけられません。"
        'unyo.toml に価格を追加するか:  [models."{model}"] input = "0.40"  cached_input = "0.10"  output = "1.60"  '
        "(100万トークンあたりの USD)、予算なしで実行することを承知のうえで [unyo] に allow_unpriced = true を"
        "設定してください",
    ),
    "unpriced.hosted_tools": _T(
        "hosted tools {tools} are billed per call, image or session, which unyo cannot price, "
        "and a budget is set: not sent. Use function tools, or set allow_unpriced = true under [unyo] to run "
        "them unbudgeted knowingly (the call is recorded either way)",
        "ホスト型ツール {tools} は呼び出し・画像・セッションごとに課金され、unyo は価格を計算できません。"
        "予算が設定されているため送信しませんでした。関数ツールを使うか、予算なしで実行することを承知のうえで "
        "[unyo] に allow_unpriced = true を設定してください (どちらの場合も呼び出しは記録されます)",
    ),
    "unpriced.stored_context": _T(
        "the provider adds stored context (previous_response_id / conversation / prompt) whose size unyo "
        "cannot see, and a budget is set: not sent. Pass unyo_prior_tokens=N (the stored context's tokens), "
        "or use unyo.conversation(...), which keeps count; or set allow_unpriced = true",
        "プロバイダが保存済みのコンテキスト (previous_response_id / conversation / prompt) を加えますが、"
        "その大きさを unyo は確認できません。予算が設定されているため送信しませんでした。"
        "unyo_prior_tokens=N (保存済みコンテキストのトークン数) を渡すか、数え続ける unyo.conversation(...) を"
        "使うか、allow_unpriced = true を設定してください",
    ),
    # --- configuration and keys --------------------------------------------------------------------------------------
    "config.missing_key": _T(
        "profile {profile!r} needs a key: set {key_env} in the environment or .env (or {key_env}_FILE to a secret "
        "file)",
        "プロファイル {profile!r} には API キーが必要です。環境変数か .env で {key_env} を設定してください "
        "(または {key_env}_FILE に秘密ファイルのパスを設定してください)",
    ),
    "config.untrusted_base_url": _T(
        "{where} points profile {profile!r} at {host}, which would receive {key}. "
        "A project file may not send a key to a host you have not trusted. If you trust it, run "
        "`unyo config trust {url}`; or set the base URL in the environment or in your own config ({user_config})",
        "{where} がプロファイル {profile!r} の送信先を {host} にしており、{key} がそこへ送られます。"
        "プロジェクトのファイルは、信頼していないホストへキーを送らせることはできません。信頼する場合は "
        "`unyo config trust {url}` を実行するか、ベース URL を環境変数か自分の設定 ({user_config}) で設定してください",
    ),
    "config.the_key": _T("the key", "キー"),
    "config.project_may_not_set": _T(
        "{origin}: a project file may not set {name} (a cloned repository could send your calls, prompts or spend "
        "elsewhere); set it in the environment ({env}) or in your own config ({user_config})",
        "{origin}: プロジェクトのファイルでは {name} を設定できません (クローンしたリポジトリが呼び出し・プロンプト・"
        "支出を別の場所へ向けられるため)。環境変数 ({env}) か自分の設定 ({user_config}) で設定してください",
    ),
    "config.wrong_type": _T("{origin}: expected {kind}, got {got!r}", "{origin}: {kind} が必要です (指定値: {got!r})"),
    "config.setting_wrong_type": _T(
        "setting {name}: expected {kind}, got {got!r}", "設定 {name}: {kind} が必要です (指定値: {got!r})"
    ),
    "config.key_file_unreadable": _T(
        "{origin}: cannot read the key file: {reason}", "{origin}: キーファイルを読めません: {reason}"
    ),
    "config.key_file_empty": _T("{origin}: the key file is empty", "{origin}: キーファイルが空です"),
    "config.profile_needs_base_url": _T(
        "unyo.toml [profiles.{name}] needs base_url", "unyo.toml の [profiles.{name}] には base_url が必要です"
    ),
    "config.unknown_settings": _T(
        "unknown settings {unknown}; known: {known}", "未知の設定です: {unknown}。使える設定: {known}"
    ),
    "config.audit_content": _T(
        "audit_content must be none, masked or full, got {got!r}",
        "audit_content は none、masked、full のいずれかにしてください (指定値: {got!r})",
    ),
    "config.budget_without_ledger": _T(
        "a budget is set but db_url = off: budgets need the ledger (unset UNYO_DB_URL to use SQLite in UNYO_HOME)",
        "予算が設定されていますが db_url = off です。予算には台帳が必要です "
        "(UNYO_DB_URL を外すと UNYO_HOME の SQLite を使います)",
    ),
    "config.bad_toml": _T("{path}: not valid TOML: {detail}", "{path}: 正しい TOML ではありません: {detail}"),
    "config.file_unreadable": _T(
        "{path}: cannot read the config file: {reason}", "{path}: 設定ファイルを読めません: {reason}"
    ),
    "config.no_such_file": _T(
        "UNYO_CONFIG / --config: no such file {path}", "UNYO_CONFIG / --config: ファイル {path} がありません"
    ),
    "config.not_a_url": _T(
        "not a URL with a host: {url!r} (e.g. https://llm.example.internal/v1)",
        "ホストを含む URL ではありません: {url!r} (例: https://llm.example.internal/v1)",
    ),
    "config.key_in_toml": _T(
        "[profiles.{name}] holds a key: keys never go in unyo.toml; set {key_env} in the environment or .env instead",
        "[profiles.{name}] にキーが書かれています。キーは unyo.toml に書かず、環境変数か .env で {key_env} を"
        "設定してください",
    ),
    "config.key_env_variable": _T("the key_env variable", "key_env の変数"),
    "config.profile_unknown_keys": _T(
        "[profiles.{name}]: unknown keys {unknown}; known: {known}",
        "[profiles.{name}]: 未知のキーです {unknown}。使えるキー: {known}",
    ),
    "config.unknown_profile": _T(
        "unknown profile {name!r}; known: {known}", "プロファイル {name!r} はありません。使えるプロファイル: {known}"
    ),
    "unpriced.content_parts": _T(
        "{model}: this request sends {count} {kinds} part(s), which the provider bills by their content (a PDF's "
        "pages as text and images, audio by its length); unyo cannot count them before sending, and a budget is set: "
        "not sent. Send the text (or images) instead, or set allow_unpriced = true to run it unbudgeted knowingly",
        "{model}: このリクエストは {kinds} のパートを {count} 個送ります。プロバイダはその内容 (PDF "
        "はページのテキストと"
        "画像、音声は長さ) で課金しますが、unyo は送信前に数えられません。予算が設定されているため送信しませんでした。"
        "代わりにテキスト (または画像) を送るか、予算なしで実行することを承知のうえで allow_unpriced = true を"
        "設定してください",
    ),
    "unpriced.image_tokens": _T(
        "{model}: unyo does not know how this model counts image tokens, and a budget is set: not sent. Use a model "
        "listed under [vision] in the price table (e.g. gpt-4.1-mini), or set allow_unpriced = true to run it "
        "unbudgeted knowingly",
        "{model}: このモデルが画像のトークンをどう数えるか unyo は知りません。"
        "予算が設定されているため送信しませんでした。"
        "価格表の [vision] にあるモデル (例: gpt-4.1-mini) を使うか、予算なしで実行することを承知のうえで "
        "allow_unpriced = true を設定してください",
    ),
    "unpriced.estimate": _T(
        'model {model!r} has no price: add [models."{model}"] input/cached_input/output (USD per 1M tokens) '
        "to unyo.toml",
        'モデル {model!r} には価格がありません。unyo.toml に [models."{model}"] の input/cached_input/output '
        "(100万トークンあたりの USD) を追加してください",
    ),
    "images.no_vision": _T(
        "the {profile} profile's model takes no images ({count} in this request); use a profile with vision: "
        "{profiles} (--profile / UNYO_PROFILE)",
        "{profile} プロファイルのモデルは画像を受け付けません (このリクエストには {count} 枚)。画像に対応した"
        "プロファイルを使ってください: {profiles} (--profile / UNYO_PROFILE)",
    ),
    "images.payload_limit": _T(
        "the images in this request pass the {mib} MiB payload limit",
        "このリクエストの画像はペイロードの上限 {mib} MiB を超えています",
    ),
    "estimate.tool_calls_form": _T(
        "--tool-calls takes TOOL=N (calls per request), e.g. web_search=2; got {got!r}",
        "--tool-calls は TOOL=N (1 リクエストあたりの呼び出し回数) の形で指定します (例: web_search=2)。指定: {got!r}",
    ),
    "estimate.tool_calls_unknown": _T(
        "--tool-calls {got!r}: name a priced hosted tool (web_search, web_search_preview, file_search) "
        "and a number of calls of 0 or more",
        "--tool-calls {got!r}: 料金の分かるホスト型ツール (web_search, web_search_preview, file_search) と "
        "0 以上の呼び出し回数を指定してください",
    ),
    "estimate.storage_gb": _T(
        "--storage-gb must be 0 or more, got {got:g}", "--storage-gb は 0 以上で指定してください。指定: {got:g}"
    ),
    "estimate.share_range": _T("--{name} must be between 0 and 1", "--{name} は 0 から 1 の範囲にしてください"),
    # --- batch input files (run --input) -----------------------------------------------------------------------------
    "batch.file_type": _T(
        "{path}: unsupported file type {suffix}; use {formats}",
        "{path}: 対応していないファイル形式です ({suffix})。使える形式: {formats}",
    ),
    "batch.no_such_file": _T("{path}: no such file", "{path}: そのようなファイルはありません"),
    "batch.bad_encoding": _T(
        "{name}: cannot be read as {encoding} ({detail})", "{name}: {encoding} として読めません ({detail})"
    ),
    "batch.not_cp932": _T(
        "not Shift_JIS/CP932 either (byte {byte:#04x} at offset {offset:,})",
        "Shift_JIS/CP932 でもありません (位置 {offset:,} のバイト {byte:#04x})",
    ),
    "batch.not_japanese": _T(
        "read as Shift_JIS/CP932 it does not look like Japanese (only {share:.0%} of its non-ASCII characters "
        "are kana, common kanji or Japanese punctuation; {needed:.0%} needed)",
        "Shift_JIS/CP932 として読むと日本語に見えません (ASCII 以外の文字のうち、かな・常用漢字・和文の句読点は "
        "{share:.0%} だけです。{needed:.0%} 必要です)",
    ),
    "batch.unknown_encoding": _T(
        "{name}: not UTF-8, and {why}. As CP932 it reads {cp932!r}; as cp1252 (Western European) {cp1252!r}. "
        "Give the file's encoding with --encoding (e.g. --encoding cp1252, latin-1, cp932, euc-jp, utf-16)",
        "{name}: UTF-8 ではなく、{why}。CP932 として読むと {cp932!r}、cp1252 (西欧) として読むと {cp1252!r} です。"
        "--encoding でファイルの文字コードを指定してください (例: --encoding cp1252, latin-1, cp932, euc-jp, utf-16)",
    ),
    "batch.too_many_rows": _T(
        "{path}: more than {max_rows:,} rows{detail}; raise the limit with --max-rows N",
        "{path}: {max_rows:,} 行を超えています{detail}。上限は --max-rows N で引き上げられます",
    ),
    "batch.empty_rows_so_far": _T(
        " (rows {first:,}-{last:,} of the sheet are empty so far)",
        " (シートの {first:,}〜{last:,} 行目はここまで空です)",
    ),
    "batch.cell_too_long": _T(
        "{path}: {where}, column {column!r}: a cell of {size:,} characters, more than {limit:,}; "
        "raise the limit with --max-cell-chars N",
        "{path}: {where}、列 {column!r}: セルが {size:,} 文字あり、上限 {limit:,} を超えています。"
        "上限は --max-cell-chars N で引き上げられます",
    ),
    "batch.where_line": _T("line {line}", "{line} 行目"),
    "batch.where_row": _T("row {row}", "{row} 行目"),
    "batch.where_header": _T("the header", "見出し行"),
    "batch.bad_json_line": _T(
        "{path}:{line}: not valid JSON ({detail})", "{path}:{line}: 正しい JSON ではありません ({detail})"
    ),
    "batch.json_not_object": _T(
        "{path}:{line}: each line must be a JSON object", "{path}:{line}: 各行は JSON オブジェクトにしてください"
    ),
    "batch.bad_csv": _T("{path}: malformed CSV ({detail})", "{path}: CSV の形式が不正です ({detail})"),
    "batch.csv_no_header": _T("{path}: the CSV has no header row", "{path}: CSV に見出し行がありません"),
    "batch.zip_bomb": _T(
        "{path}: its part {part} expands from {packed:,} to {size:,} bytes ({ratio:,}x): refused as a zip bomb; "
        "if the file is genuine, save it as CSV",
        "{path}: 中の {part} が {packed:,} バイトから {size:,} バイト ({ratio:,} 倍) に展開されるため、zip 爆弾として"
        "拒否しました。正当なファイルなら CSV で保存してください",
    ),
    "batch.bad_xlsx": _T(
        "{path}: not a readable .xlsx file ({detail})", "{path}: 読み取れる .xlsx ファイルではありません ({detail})"
    ),
    "batch.xlsx_no_header": _T(
        "{path}: the first sheet has no header row", "{path}: 最初のシートに見出し行がありません"
    ),
    "batch.and_more": _T(" and {count} more", " ほか {count} 個"),
    "batch.uncomputed_formulas": _T(
        "{path}: formula cells with no computed value: {cells}{more}. The file was saved by a program that "
        "does not calculate formulas; open and save it in Excel or LibreOffice (or convert it with "
        "`soffice --headless --convert-to xlsx`), then run again",
        "{path}: 計算済みの値がない数式セルがあります: {cells}{more}。数式を計算しないプログラムで保存された"
        "ファイルです。Excel か LibreOffice で開いて保存し直してから (または "
        "`soffice --headless --convert-to xlsx` で変換してから) もう一度実行してください",
    ),
    "batch.id_column_missing": _T(
        "--id-column {column!r} is not a column; columns: {columns}",
        "--id-column {column!r} という列はありません。列: {columns}",
    ),
    "batch.id_column_not_unique": _T(
        "--id-column {column!r} must be unique and non-empty; problems: {problems}",
        "--id-column {column!r} の値は重複なく空でないものにしてください。問題のある値: {problems}",
    ),
    "batch.no_column": _T(
        "{input}: no column {column!r}; columns: {columns}", "{input}: 列 {column!r} がありません。列: {columns}"
    ),
    "batch.row_changed": _T(
        "row {row} of {input} changed since {journal} recorded it; use --restart to start over",
        "{input} の行 {row} が {journal} に記録された後で変わっています。最初からやり直すには --restart "
        "を付けてください",
    ),
    "batch.max_cost_needs_ledger": _T(
        "--max-cost needs the ledger database; it is off (UNYO_DB_URL=off)",
        "--max-cost には台帳のデータベースが必要ですが、無効になっています (UNYO_DB_URL=off)",
    ),
    # --- unyo run ---------------------------------------------------------------------------------------------------
    "run.set_form": _T("--set {pair!r}: use KEY=VALUE", "--set {pair!r}: KEY=VALUE の形で指定してください"),
    "run.embedding_model_needs_via": _T(
        "--embedding-model goes with --via embeddings", "--embedding-model は --via embeddings と一緒に使います"
    ),
    "run.kb_needs_answer_task": _T(
        "--kb and --rerank go with a task that answers from a knowledge base (answer), not {task}",
        "--kb と --rerank はナレッジベースから答えるタスク (answer) で使います。{task} では使えません",
    ),
    "run.no_label_fields": _T(
        "task {task} has no label fields: --via embeddings|llm, --labels and --embedding-model "
        "work with classify, triage and tasks whose task.toml lists embedding_fields",
        "タスク {task} にはラベルのフィールドがありません。--via embeddings|llm、--labels、--embedding-model は "
        "classify、triage、および task.toml に embedding_fields があるタスクで使えます",
    ),
    "run.url_without_input": _T(
        "--url reads one page: give it without --input", "--url は 1 ページを読みます。--input と一緒には使えません"
    ),
    "run.collect_needs_input": _T(
        "--collect and --job are for a batch: give --input FILE",
        "--collect と --job はバッチ用です。--input FILE を指定してください",
    ),
    "run.input_once": _T(
        "give the input once: a text, --file or --url",
        "入力は 1 つだけ指定してください: テキスト、--file、--url のどれか",
    ),
    "run.file_unreadable": _T("--file {file}: {reason}", "--file {file}: {reason}"),
    "run.above_zero_seconds": _T("{option} must be above 0 seconds", "{option} は 0 秒より大きくしてください"),
    "run.output_is_input": _T("--output must not be the input file", "--output に入力ファイルは指定できません"),
    "run.max_cost_not_usd": _T(
        "--max-cost {value!r} is not an amount in USD", "--max-cost {value!r} は USD の金額ではありません"
    ),
    "run.concurrency_rpm": _T(
        "--concurrency must be at least 1 and --rpm above 0",
        "--concurrency は 1 以上、--rpm は 0 より大きくしてください",
    ),
    "run.max_rows_cells": _T(
        "--max-rows and --max-cell-chars must be at least 1", "--max-rows と --max-cell-chars は 1 以上にしてください"
    ),
    "run.job_needs_postgresql": _T(
        "--job names a job shared through PostgreSQL: set UNYO_DB_URL=postgresql://...",
        "--job は PostgreSQL で共有するジョブの名前です。UNYO_DB_URL=postgresql://... を設定してください",
    ),
    "run.collect_no_journal": _T(
        "--collect: no journal for {output}; run the batch first",
        "--collect: {output} のジャーナルがありません。先にバッチを実行してください",
    ),
    "run.nothing_to_do": _T(
        "nothing to do: {ok} rows already done{failed} · results: {output}",
        "実行する行はありません: {ok} 行は完了済み{failed} · 結果: {output}",
    ),
    "run.nothing_failed": _T(
        ", {failed} failed (re-run them with --retry-failed)", "、失敗 {failed} 行 (--retry-failed で再実行できます)"
    ),
    "run.summary": _T(
        "{ok} ok, {failed} failed, {pending} pending of {rows} rows · this run: {ran} rows, {spent}, {elapsed:.1f}s, "
        "{retries} retries, {rate_limited} rate-limited",
        "{rows} 行中 成功 {ok}・失敗 {failed}・未処理 {pending} · 今回: {ran} 行、{spent}、{elapsed:.1f} 秒、"
        "再試行 {retries} 回、レート制限 {rate_limited} 回",
    ),
    "run.results": _T("results: {output} (journal {journal})", "結果: {output} (ジャーナル {journal})"),
    "run.others_still_running": _T(
        "journal {journal}: other workers are still at it; the last to finish writes the output "
        "(or run the same command with --collect)",
        "ジャーナル {journal}: ほかのワーカーがまだ処理中です。最後に終えたワーカーが出力を書きます "
        "(または同じコマンドを --collect 付きで実行してください)",
    ),
    "run.batch_waiting": _T(
        "batch {id} is {status} at the provider ({rows} rows); run the same command to collect it",
        "バッチ {id} はプロバイダで {status} です ({rows} 行)。同じコマンドを実行すると結果を回収します",
    ),
    "run.stopped": _T(
        "stopped: {reason}; {pending} rows left{about}. Run the same command to continue.",
        "停止しました: {reason}。残り {pending} 行{about}。同じコマンドを実行すると続きから再開します。",
    ),
    "run.about_to_finish": _T(", about {usd} to finish", "、完了まで約 {usd}"),
    "run.failed_rows": _T(
        "failed rows carry their error in unyo_error; re-run them with --retry-failed",
        "失敗した行は unyo_error にエラーが入っています。--retry-failed で再実行できます",
    ),
    "run.collected": _T(
        "collected: {ok} ok, {failed} failed, {pending} pending of {rows} rows -> {output}",
        "回収しました: {rows} 行中 成功 {ok}・失敗 {failed}・未処理 {pending} -> {output}",
    ),
    # --- knowledge bases (unyo kb, ask --kb) -------------------------------------------------------------------------
    "kb.hosted_elsewhere": _T(
        "knowledge base {name!r} lives in {where}, not {via}",
        "ナレッジベース {name!r} は {via} ではなく {where} にあります",
    ),
    "kb.removed_hosted_base": _T(
        "removed knowledge base {name} and its vector store", "ナレッジベース {name} とそのベクトルストアを削除しました"
    ),
    "kb.search_hosted": _T(
        "{name!r} is a hosted knowledge base: the provider searches its passages; use `unyo ask --kb {name} QUESTION`",
        "{name!r} はホスト型のナレッジベースで、検索はプロバイダーが行います。"
        "`unyo ask --kb {name} 質問` を使ってください",
    ),
    "ask.rerank_needs_kb": _T(
        "--rerank goes with --kb NAME: it reorders a knowledge base's passages; nothing was sent",
        "--rerank は --kb NAME と一緒に使います (ナレッジベースの文書の順を並べ替えます)。何も送信していません",
    ),
    "ask.max_tool_calls_alone": _T(
        "--max-tool-calls applies to --web and hosted knowledge bases; nothing was sent",
        "--max-tool-calls は --web とホスト型のナレッジベースにだけ使えます。何も送信していません",
    ),
    "ask.web_and_kb": _T(
        "--web and --kb answer from different places; choose one (nothing was sent)",
        "--web と --kb は別々の情報源から答えます。どちらか一方を選んでください (何も送信していません)",
    ),
    "hosted.registry_unreadable": _T(
        "{path}: unreadable ({error}); fix or remove it (the vector stores stay at the provider)",
        "{path} を読めません ({error})。修正するか削除してください (ベクトルストアはプロバイダーに残ります)",
    ),
    "hosted.name_is_local": _T(
        "knowledge base {name!r} is a local one; choose another --kb name for the hosted one",
        "ナレッジベース {name!r} はローカルのものです。ホスト型には別の --kb 名を選んでください",
    ),
    "hosted.no_urls": _T(
        "a hosted knowledge base takes files; add URLs to a local one",
        "ホスト型のナレッジベースにはファイルを追加します。URL はローカルのナレッジベースに追加してください",
    ),
    "hosted.empty_file": _T("{source}: an empty file", "{source}: 空のファイルです"),
    "hosted.kept_all_missing": _T(
        "none of the {count} files of this base is on disk now (an unmounted share or a moved folder?):"
        " kept in the store; `unyo kb rm --kb NAME SOURCE…` removes files explicitly",
        "このナレッジベースの {count} 個のファイルがどれもディスク上にありません"
        "（共有の未マウントやフォルダの移動？）。ストアには残しました。"
        "削除するには `unyo kb rm --kb NAME SOURCE…` を使ってください",
    ),
    "hosted.indexing_failed": _T("indexing {status}{detail}", "インデックス作成が {status} になりました{detail}"),
    "hosted.still_indexing": _T(
        "{count} files still indexing after {seconds:.0f}s (the store keeps them; run `unyo kb add` again to check): "
        "{sources}",
        "{seconds:.0f} 秒たっても {count} 件のファイルがインデックス作成中です (ストアには残ります。"
        "`unyo kb add` をもう一度実行すると確認できます): {sources}",
    ),
    "hosted.unknown": _T(
        "no hosted knowledge base named {name!r} (`unyo kb ls` lists them)",
        "ホスト型のナレッジベース {name!r} はありません (`unyo kb ls` で一覧を表示できます)",
    ),
    "hosted.unknown_add": _T(
        "no hosted knowledge base named {name!r} (`unyo kb add FILES --kb {name} --via openai`)",
        "ホスト型のナレッジベース {name!r} はありません (`unyo kb add ファイル --kb {name} --via openai`)",
    ),
    "kb.add_needs_sources": _T(
        "kb add needs files, folders, globs or URLs", "kb add にはファイル・フォルダ・glob・URL を指定してください"
    ),
    "kb.added": _T(
        "{kb}: {chunks} chunks written in {seconds:.1f}s ({rate:.1f} chunks/s)",
        "{kb}: {chunks} チャンクを {seconds:.1f} 秒で書き込みました (毎秒 {rate:.1f} チャンク)",
    ),
    "kb.not_added": _T(
        "{failed} of {total} sources not added: {reasons}", "{total} 件中 {failed} 件を追加できませんでした: {reasons}"
    ),
    "kb.unknown_ls": _T(
        "no knowledge base named {name!r} (`unyo kb ls` lists them)",
        "ナレッジベース {name!r} はありません (`unyo kb ls` で一覧を表示できます)",
    ),
    "kb.unknown": _T("no knowledge base named {name!r}", "ナレッジベース {name!r} はありません"),
    "kb.unknown_add": _T(
        "no knowledge base named {name!r}: add documents with `unyo kb add PATH --kb {name}`",
        "ナレッジベース {name!r} はありません。`unyo kb add PATH --kb {name}` で文書を追加してください",
    ),
    "kb.removed_base": _T("removed knowledge base {name}", "ナレッジベース {name} を削除しました"),
    "kb.removed_source": _T("removed {source}", "{source} を削除しました"),
    "kb.not_in_base": _T(
        "{missing} of {total} sources were not in knowledge base {name!r}",
        "{total} 件中 {missing} 件はナレッジベース {name!r} にありませんでした",
    ),
    "kb.search_needs_query": _T("kb search needs a query", "kb search には検索語が必要です"),
    "kb.other_embedding_model": _T(
        "knowledge base {name!r} was built with the embedding model {known}, not {model}: "
        "use --embed-model {known}, another --kb, or `unyo kb rm {name}` first",
        "ナレッジベース {name!r} は埋め込みモデル {known} で作られています ({model} ではありません)。"
        "--embed-model {known} を指定するか、別の --kb を使うか、先に `unyo kb rm {name}` を実行してください",
    ),
    "kb.nothing_to_add": _T(
        "nothing to add: give files, folders, globs or URLs",
        "追加するものがありません。ファイル・フォルダ・glob・URL を指定してください",
    ),
    "kb.no_such_file": _T("{source}: no such file", "{source}: そのようなファイルはありません"),
    "kb.file_too_big": _T(
        "{source}: {size:.0f} MB is over the {limit:.0f} MB limit per file",
        "{source}: {size:.0f} MB はファイルごとの上限 {limit:.0f} MB を超えています",
    ),
    "kb.no_text": _T(
        "{source}: no text found (an empty document, or a scanned PDF without a text layer)",
        "{source}: テキストが見つかりません (空の文書か、テキスト層のないスキャン PDF です)",
    ),
    "kb.not_text": _T("{name}: not UTF-8 or Shift_JIS text", "{name}: UTF-8 でも Shift_JIS でもないテキストです"),
    "kb.needs_extra": _T(
        "{name}: {kind} needs the knowledge extra: pip install 'unyo[knowledge]'",
        "{name}: {kind} を読むには knowledge extra が必要です: pip install 'unyo[knowledge]'",
    ),
    "kb.pdf_encrypted": _T(
        "{name}: the PDF is encrypted; decrypt it first (e.g. qpdf --decrypt)",
        "{name}: PDF が暗号化されています。先に復号してください (例: qpdf --decrypt)",
    ),
    "kb.unreadable": _T(
        "{name}: not a readable {kind} ({detail})",
        "{name}: 読み取れる {kind} ではありません ({detail})",
    ),
    "kb.file_type": _T(
        "{name}: unsupported file type {suffix} (use {formats})",
        "{name}: 対応していないファイル形式です ({suffix})。使える形式: {formats}",
    ),
    "kb.url_scheme": _T(
        "{url}: only http and https URLs can be added (got {scheme})",
        "{url}: 追加できるのは http と https の URL だけです (指定: {scheme})",
    ),
    "kb.no_scheme": _T("no scheme", "スキームなし"),
    "kb.url_no_host": _T("{url}: no host", "{url}: ホストがありません"),
    "kb.url_unresolved": _T(
        "{url}: cannot resolve {host} ({reason})", "{url}: {host} の名前解決ができません ({reason})"
    ),
    "kb.url_private": _T(
        "{url}: {host} is a private, loopback or reserved address ({address}); set UNYO_KB_ALLOW_PRIVATE=1 to allow it",
        "{url}: {host} はプライベート・ループバック・予約済みのアドレスです ({address})。"
        "許可するには UNYO_KB_ALLOW_PRIVATE=1 を設定してください",
    ),
    "kb.url_status": _T("{url}: the server answered {status}", "{url}: サーバーが {status} を返しました"),
    "kb.url_too_big": _T(
        "{url}: {size} bytes is over the {limit}-byte cap", "{url}: {size} バイトは上限の {limit} バイトを超えています"
    ),
    "kb.url_over_cap": _T("{url}: more than the {limit}-byte cap", "{url}: 上限の {limit} バイトを超えています"),
    "kb.url_timeout": _T(
        "{url}: no answer within {timeout:g}s (timeout)", "{url}: {timeout:g} 秒以内に応答がありません (タイムアウト)"
    ),
    "kb.url_failed": _T("{url}: cannot fetch ({detail})", "{url}: 取得できません ({detail})"),
    "kb.url_redirects": _T("{url}: more than {count} redirects", "{url}: リダイレクトが {count} 回を超えました"),
    "kb.pg_no_extension": _T(
        "the PostgreSQL server at {where} has no pgvector extension, which knowledge bases need there: "
        "install it on the database host (Debian/Ubuntu: `apt-get install postgresql-{major}-pgvector`; "
        "or `.ci/pgvector.sh` from the unyo repository), or unset UNYO_DB_URL to keep knowledge bases in SQLite",
        "{where} の PostgreSQL サーバーには、ナレッジベースに必要な pgvector 拡張がありません。データベースのホストに"
        "インストールするか (Debian/Ubuntu: `apt-get install postgresql-{major}-pgvector`、または unyo リポジトリの "
        "`.ci/pgvector.sh`)、UNYO_DB_URL を外してナレッジベースを SQLite に置いてください",
    ),
    "kb.pg_extension_not_enabled": _T(
        "pgvector is installed on {where} but not enabled in this database, and this user "
        "may not enable it: ask its owner to run `CREATE EXTENSION vector`",
        "{where} に pgvector はインストールされていますが、このデータベースでは有効になっておらず、このユーザーには"
        "有効にする権限がありません。所有者に `CREATE EXTENSION vector` の実行を依頼してください",
    ),
    "store.no_psycopg": _T(
        "UNYO_DB_URL is postgresql:// but psycopg is not installed: pip install 'unyo[postgres]'",
        "UNYO_DB_URL が postgresql:// ですが psycopg がインストールされていません: pip install 'unyo[postgres]'",
    ),
    "store.pg_unreachable": _T(
        "cannot connect to PostgreSQL at {where}: {detail}", "{where} の PostgreSQL に接続できません: {detail}"
    ),
    # --- templates and aliases ---------------------------------------------------------------------------------------
    "templates.bad_name": _T(
        "{what} names are letters, digits, '.', '_' and '-' (up to 64), got {name!r}",
        "{what}の名前に使えるのは英数字と '.'、'_'、'-' (64 文字まで) です (指定値: {name!r})",
    ),
    "templates.what_template": _T("template", "テンプレート"),
    "templates.what_alias": _T("alias", "エイリアス"),
    "templates.unknown": _T(
        "no template named {name!r}{suggestion}; `unyo templates list`",
        "テンプレート {name!r} はありません{suggestion}。`unyo templates list` で一覧を表示できます",
    ),
    "templates.unknown_keys": _T(
        "template {path}: unknown keys {unknown}; allowed: {allowed}",
        "テンプレート {path}: 未知のキーです {unknown}。使えるキー: {allowed}",
    ),
    "templates.only_input": _T(
        "template prompt: only $input may be used ({detail})",
        "テンプレートのプロンプト: 使える変数は $input だけです ({detail})",
    ),
    "templates.none_yet": _T(
        "no templates yet: unyo templates save NAME --system '...'",
        "テンプレートはまだありません: unyo templates save NAME --system '...'",
    ),
    "templates.removed": _T("removed template {name}", "テンプレート {name} を削除しました"),
    "templates.no_editor": _T(
        "set EDITOR (or VISUAL) to edit a template, or save it again with new options",
        "テンプレートを編集するには EDITOR (または VISUAL) を設定するか、新しいオプションで保存し直してください",
    ),
    "templates.schema_file": _T(
        "a template's --schema must be a JSON Schema file",
        "テンプレートの --schema は JSON Schema のファイルにしてください",
    ),
    "templates.save_needs_option": _T(
        "templates save needs at least one of --system, --prompt, -m, --max-output-tokens, --schema",
        "templates save には --system、--prompt、-m、--max-output-tokens、--schema のどれかが必要です",
    ),
    "templates.saved": _T("saved template {name} ({path})", "テンプレート {name} を保存しました ({path})"),
    "aliases.none_yet": _T(
        "no aliases yet: unyo aliases set NAME MODEL", "エイリアスはまだありません: unyo aliases set NAME MODEL"
    ),
    "aliases.needs_model": _T(
        "aliases set NAME MODEL: name the model too, e.g. unyo aliases set fast gpt-5-nano",
        "aliases set NAME MODEL: モデルも指定してください (例: unyo aliases set fast gpt-5-nano)",
    ),
    "aliases.unknown": _T("no alias named {name!r}{suggestion}", "エイリアス {name!r} はありません{suggestion}"),
    "aliases.set": _T("set alias {name}", "エイリアス {name} を設定しました"),
    "aliases.removed": _T("removed alias {name}", "エイリアス {name} を削除しました"),
    # --- ask, chat, conversations ------------------------------------------------------------------------------------
    "ask.image_combination": _T(
        "--image cannot be combined with --schema or -c/--conversation yet; nothing was sent",
        "--image はまだ --schema や -c/--conversation と一緒に使えません。何も送信していません",
    ),
    "ask.schema_with_conversation": _T(
        "--schema cannot be combined with -c/--conversation", "--schema は -c/--conversation と一緒に使えません"
    ),
    "chat.conversation_needs_user": _T(
        "--conversation needs --user (a conversation belongs to one user)",
        "--conversation には --user が必要です (会話は 1 人のユーザーのものです)",
    ),
    "conversations.denied": _T(
        "conversation {id!r} is not available to user {user!r}",
        "会話 {id!r} はユーザー {user!r} には使えません",
    ),
    "conversations.needs_responses_api": _T(
        "the {strategy} strategy needs the Responses API; this profile uses {api}",
        "{strategy} 方式には Responses API が必要ですが、このプロファイルは {api} を使います",
    ),
    "conversations.needs_user": _T("a conversation needs a user id", "会話にはユーザー ID が必要です"),
    "conversations.bad_strategy": _T(
        "strategy must be one of {strategies}, got {got!r}",
        "strategy は {strategies} のどれかにしてください (指定値: {got!r})",
    ),
    "conversations.bad_trim": _T("trim must be 'drop' or 'summarize'", "trim は 'drop' か 'summarize' にしてください"),
    "conversations.needs_ledger": _T(
        "conversations are stored in the ledger database; it is off (UNYO_DB_URL=off)",
        "会話は台帳のデータベースに保存されますが、無効になっています (UNYO_DB_URL=off)",
    ),
    "conversations.no_server_state": _T(
        "profile {profile!r} keeps no server-side state: the {strategy} strategy needs a provider; use history",
        "プロファイル {profile!r} はサーバー側に状態を持ちません。{strategy} 方式にはプロバイダが必要です。history "
        "を使ってください",
    ),
    # --- config, serve, tasks, keys ----------------------------------------------------------------------------------
    "config.trust_needs_url": _T(
        "unyo config trust URL: name the endpoint, e.g. https://llm.example.internal/v1",
        "unyo config trust URL: エンドポイントを指定してください (例: https://llm.example.internal/v1)",
    ),
    "config.trusted": _T(
        "trusted {entry} with keys (recorded in {path})",
        "{entry} にキーを送ることを信頼しました ({path} に記録)",
    ),
    "serve.needs": _T(
        "unyo serve needs {name}: pip install 'unyo[gateway]'",
        "unyo serve には {name} が必要です: pip install 'unyo[gateway]'",
    ),
    "serve.listening": _T(
        "unyo gateway on http://{host}:{port}/v1 (Ctrl-C stops)",
        "unyo ゲートウェイを http://{host}:{port}/v1 で起動しました (Ctrl-C で停止)",
    ),
    "tasks.show_needs_name": _T("tasks show needs a task name", "tasks show にはタスク名が必要です"),
    "keys.create_needs_name": _T("keys create needs --name", "keys create には --name が必要です"),
    "gw.secret_file_unreadable": _T(
        "UNYO_GATEWAY_SECRET_FILE {path}: cannot read it: {reason}",
        "UNYO_GATEWAY_SECRET_FILE {path} を読めません: {reason}",
    ),
    "gw.secret_missing": _T(
        "the gateway needs a server secret of at least 16 characters to hash virtual keys: set "
        "UNYO_GATEWAY_SECRET (or UNYO_GATEWAY_SECRET_FILE to a file holding it), e.g. "
        '`export UNYO_GATEWAY_SECRET="$(python -c "import secrets; print(secrets.token_urlsafe(32))")"`; '
        "every replica and `unyo keys` must use the same one",
        "ゲートウェイが仮想キーをハッシュするには 16 文字以上のサーバーシークレットが必要です。"
        "UNYO_GATEWAY_SECRET（またはそれを収めたファイルを UNYO_GATEWAY_SECRET_FILE）を設定してください。例: "
        '`export UNYO_GATEWAY_SECRET="$(python -c "import secrets; print(secrets.token_urlsafe(32))")"`。'
        "すべてのレプリカと `unyo keys` で同じ値を使ってください",
    ),
    "gw.bad_duration": _T(
        "expected a duration like 90d, 12h or 30m, got {text}",
        "90d・12h・30m のような期間を指定してください（指定値: {text}）",
    ),
    "gw.key_needs_name": _T("a key needs a --name", "キーには --name が必要です"),
    "gw.negative_budget": _T("the {label} budget is negative ({amount})", "{label} の予算が負の値です（{amount}）"),
    "gw.rate_not_positive": _T(
        "--{label} must be positive, got {rate}", "--{label} は正の値にしてください（指定値: {rate}）"
    ),
    "gw.key_name_taken": _T(
        "an active key is already named {name}: rotate it, or pick another name",
        "有効なキー {name} がすでにあります。ローテーションするか、別の名前を付けてください",
    ),
    "gw.no_such_key": _T(
        "no virtual key {ref} (see `unyo keys list`)", "仮想キー {ref} はありません（`unyo keys list` を参照）"
    ),
    "gw.key_name_ambiguous": _T(
        "{count} active keys are named {ref}: use the id (see `unyo keys list`)",
        "{ref} という名前の有効なキーが {count} 個あります。ID で指定してください（`unyo keys list` を参照）",
    ),
    "gw.key_revoked": _T(
        "key {id} ({name}) is revoked; create a new one instead",
        "キー {id}（{name}）は取り消し済みです。新しいキーを作成してください",
    ),
    "keys.needs_ref": _T("keys {action} needs a key id or name", "keys {action} にはキーの ID か名前が必要です"),
    "keys.created": _T(
        "key {id} ({name}) created. This is the only time it is shown: store it now.",
        "キー {id} ({name}) を作成しました。表示されるのはこの一度だけです。今すぐ保管してください。",
    ),
    "keys.revoked": _T("key {id} ({name}) revoked", "キー {id} ({name}) を取り消しました"),
    # --- review, eval, finetune ---------------------------------------------------------------------------------------
    "review.webhook_scheme": _T(
        "webhook {url!r}: use an http:// or https:// URL",
        "webhook {url!r}: http:// か https:// の URL を指定してください",
    ),
    "review.webhook_failed": _T(
        "webhook {url}: {detail}; nothing marked exported",
        "webhook {url}: {detail}。何もエクスポート済みにしていません",
    ),
    "review.webhook_status": _T(
        "webhook {url} answered HTTP {status}; nothing marked exported",
        "webhook {url} が HTTP {status} を返しました。何もエクスポート済みにしていません",
    ),
    "review.exported_file": _T(
        "{count} approved item(s) written to {path}", "承認済みの項目 {count} 件を {path} に書き出しました"
    ),
    "review.exported_webhook": _T(
        "{count} approved item(s) posted to the webhook", "承認済みの項目 {count} 件を webhook に送りました"
    ),
    "review.export_needs_target": _T(
        "review export: give --out FILE.csv|FILE.jsonl or --webhook URL (or UNYO_REVIEW_WEBHOOK)",
        "review export: --out FILE.csv|FILE.jsonl か --webhook URL (または UNYO_REVIEW_WEBHOOK) を指定してください",
    ),
    "review.needs_id": _T(
        "review {action} needs an item id (`unyo review list`)",
        "review {action} には項目の ID が必要です (`unyo review list`)",
    ),
    "review.edit_needs_output": _T(
        "review edit needs --output JSON (or --output @FILE)",
        "review edit には --output JSON (または --output @FILE) が必要です",
    ),
    "review.output_unreadable": _T("--output {output}: {reason}", "--output {output}: {reason}"),
    "review.decided": _T("review item {id}: {status} by {who}", "レビュー項目 {id}: {who} が {status}"),
    "eval.not_usd": _T("{flag} {text!r} is not an amount in USD", "{flag} {text!r} は USD の金額ではありません"),
    "eval.not_negative": _T("{flag} must be 0 or more", "{flag} は 0 以上にしてください"),
    "eval.needs_suite": _T(
        "give a suite file (unyo eval SUITE.yaml) or a built-in task (unyo eval --task triage)",
        "スイートのファイル (unyo eval SUITE.yaml) か組み込みのタスク (unyo eval --task triage) を指定してください",
    ),
    "eval.fail_under": _T(
        "--fail-under is a pass rate between 0 and 1 (e.g. 0.9)", "--fail-under は 0 から 1 の合格率です (例: 0.9)"
    ),
    "eval.regression_needs_baseline": _T(
        "--fail-on-regression needs --baseline PREVIOUS.json",
        "--fail-on-regression には --baseline PREVIOUS.json が必要です",
    ),
    "eval.compare_needs_models": _T(
        "compare needs at least two models: -m main -m bulk -m local",
        "compare には 2 つ以上のモデルが必要です: -m main -m bulk -m local",
    ),
    "finetune.give": _T("unyo finetune {action}: give {needs}", "unyo finetune {action}: {needs}を指定してください"),
    "finetune.the_dataset": _T("the dataset", "データセット"),
    "finetune.the_job_id": _T("the job id", "ジョブ ID"),
    "finetune.epochs": _T(
        "--epochs {epochs}: the provider trains 1 to 50 epochs",
        "--epochs {epochs}: プロバイダが学習できるのは 1 から 50 エポックです",
    ),
    "finetune.max_cost": _T(
        "--max-cost {value!r}: give USD, e.g. 2.50",
        "--max-cost {value!r}: USD で指定してください (例: 2.50)",
    ),
    "finetune.suffix": _T("--suffix: 1 to 64 characters", "--suffix: 1 から 64 文字にしてください"),
    "finetune.use_needs_role": _T(
        "unyo finetune use JOB --role ROLE: which role should the tuned model serve?",
        "unyo finetune use JOB --role ROLE: 学習済みモデルをどのロールに使うか指定してください",
    ),
    "finetune.what": _T(
        "fine-tuning {model} on {trained:,} tokens ({tokens:,} x {epochs} epochs)",
        "{model} のファインチューニング ({trained:,} トークン: {tokens:,} x {epochs} エポック)",
    ),
    "unpriced.training": _T(
        "{what}: {model!r} has no training price, and a cost limit is set: nothing uploaded. "
        'Add it to unyo.toml: [models."{model}"] training = "5.00" (USD per 1M trained tokens)',
        "{what}: {model!r} には学習の価格がなく、費用の上限が設定されているため何もアップロードしていません。"
        'unyo.toml に追加してください: [models."{model}"] training = "5.00" (学習 100万トークンあたりの USD)',
    ),
    "finetune.over_max_cost": _T(
        "{what} is estimated at {estimate} ({worst} with the 2 % margin reserved), over --max-cost {max_cost}: "
        "nothing uploaded",
        "{what} の見積もりは {estimate} (2 % の余裕を含めて {worst} を予約) で、--max-cost {max_cost} を超えるため"
        "何もアップロードしていません",
    ),
    "finetune.over_request_limit": _T(
        "{what}: {worst} reserved is over the {limit}: nothing uploaded",
        "{what}: 予約する {worst} が{limit}を超えるため何もアップロードしていません",
    ),
    "finetune.over_period_limit": _T(
        "{what}: {worst} to reserve, but the {limit} ({period}) has spent ${spent} and reserved ${reserved}: "
        "nothing uploaded",
        "{what}: {worst} を予約しようとしましたが、{limit} ({period}) は使用済み ${spent}、予約中 ${reserved} のため"
        "何もアップロードしていません",
    ),
    "unpriced.fine_tuning": _T(
        "{api}: {problem}, and a budget is set: unyo cannot cap what it cannot price, so it was not sent. "
        "Or set allow_unpriced = true under [unyo] to run it unbudgeted knowingly",
        "{api}: {problem}。予算が設定されており、価格の分からない呼び出しには上限をかけられないため送信しませんでした。"
        "予算なしで実行することを承知のうえなら [unyo] に allow_unpriced = true を設定してください",
    ),
    "unpriced.reinforcement": _T(
        "reinforcement fine-tuning is billed per hour of training, which unyo cannot estimate",
        "強化学習のファインチューニングは学習時間ごとに課金され、unyo には見積もれません",
    ),
    "unpriced.no_training_price": _T(
        "fine-tuning {model!r} has no training price in unyo's table; add it to unyo.toml: "
        '[models."{model}"] training = "5.00" (USD per 1M trained tokens)',
        "{model!r} のファインチューニングには unyo の価格表に学習の価格がありません。unyo.toml に追加してください: "
        '[models."{model}"] training = "5.00" (学習 100万トークンあたりの USD)',
    ),
    "unpriced.training_size": _T(
        "the training file's size is unknown: pass unyo_training_tokens=N (its tokens per epoch, "
        "as `unyo finetune validate` reports), or use `unyo finetune create`, which counts them",
        "学習ファイルの大きさが分かりません。unyo_training_tokens=N (`unyo finetune validate` が示す 1 エポックあたりの"
        "トークン数) を渡すか、トークンを数える `unyo finetune create` を使ってください",
    ),
    "unpriced.auto_epochs": _T(
        'n_epochs is "auto": give method={{"type": "supervised", "supervised": {{"hyperparameters": '
        '{{"n_epochs": N}}}}}}',
        'n_epochs が "auto" です。method={{"type": "supervised", "supervised": {{"hyperparameters": '
        '{{"n_epochs": N}}}}}} を指定してください',
    ),
    "budget.training_refused": _T(
        "the {scope} budget of ${limit}{when} would be exceeded: spent ${spent}, reserved ${reserved}, "
        "this job's estimate {asked} ({model}, {tokens:,} trained tokens with a 2 % margin); not created",
        "{scope} の予算 ${limit}{when}を超えるためジョブを作成しませんでした: 使用済み ${spent}、予約中 ${reserved}、"
        "このジョブの見積もり {asked} ({model}, 2 % の余裕を含めて学習 {tokens:,} トークン)",
    ),
    "batch.unpriced": _T(
        "a budget is set but {task}'s model has no price: unyo cannot cap what it cannot price",
        "予算が設定されていますが {task} のモデルには価格がありません。"
        "価格の分からない呼び出しには上限をかけられません",
    ),
    # --- labels files (classify, triage) -----------------------------------------------------------------------------
    "labels.where": _T("{path}, line {line}", "{path} の {line} 行目"),
    "labels.two_distinct": _T(
        "classify needs at least two distinct labels", "classify には異なるラベルが 2 つ以上必要です"
    ),
    "labels.bad_json": _T(
        "labels file {path}, line {line}: not valid JSON ({detail})",
        "ラベルファイル {path} の {line} 行目: 正しい JSON ではありません ({detail})",
    ),
    "labels.bad_toml": _T(
        "labels file {path}: not valid TOML ({detail})", "ラベルファイル {path}: 正しい TOML ではありません ({detail})"
    ),
    "labels.bad_example": _T(
        "labels file {where}: an example is a non-empty string or a table with `text`",
        "ラベルファイル {where}: 例は空でない文字列か `text` を持つテーブルにしてください",
    ),
    "labels.unreadable": _T("labels file {file}: {reason}", "ラベルファイル {file}: {reason}"),
    "labels.empty": _T(
        "labels file {file} is empty: add [[labels]] tables with name, description and examples "
        "(see `unyo tasks show classify`)",
        "ラベルファイル {file} が空です。name・description・examples を持つ [[labels]] テーブルを追加してください "
        "(`unyo tasks show classify` を参照)",
    ),
    "labels.shape": _T(
        "labels file {file}: expected labels = [{{name, description, examples}}, ...]",
        "ラベルファイル {file}: labels = [{{name, description, examples}}, ...] の形にしてください",
    ),
    "labels.no_name": _T(
        "labels file {where}: a label without a name",
        "ラベルファイル {where}: 名前のないラベルがあります",
    ),
    "labels.twice": _T(
        "labels file {where}: label {name!r} is defined twice",
        "ラベルファイル {where}: ラベル {name!r} が 2 回定義されています",
    ),
    "labels.no_description": _T(
        'labels file {where}: label {name!r} has no description (description = "...")',
        'ラベルファイル {where}: ラベル {name!r} に説明がありません (description = "...")',
    ),
    "labels.unknown_label": _T(
        "labels file {where}: an example of unknown label {label!r}; labels: {labels}",
        "ラベルファイル {where}: 未知のラベル {label!r} の例があります。ラベル: {labels}",
    ),
    "labels.at_least_two": _T(
        "labels file {file}: classification needs at least two labels",
        "ラベルファイル {file}: 分類にはラベルが 2 つ以上必要です",
    ),
    # --- images (ask --image, the Images API) ------------------------------------------------------------------------
    "image.too_big": _T(
        "{name}: {mib:.1f} MiB is over the {limit} MiB image limit",
        "{name}: {mib:.1f} MiB は画像の上限 {limit} MiB を超えています",
    ),
    "image.over_limit": _T("{path}: over the {limit} MiB image limit", "{path}: 画像の上限 {limit} MiB を超えています"),
    "image.svg": _T("an SVG (vector) image", "SVG (ベクター) 画像です"),
    "image.not_raster": _T("not a PNG, JPEG, WEBP or GIF image", "PNG・JPEG・WEBP・GIF の画像ではありません"),
    "image.unsupported": _T(
        "{name}: {what}; convert it to PNG or JPEG (the type is read from the bytes, not the name)",
        "{name}: {what}。PNG か JPEG に変換してください (形式は名前ではなく中身のバイトから判定します)",
    ),
    "image.animated": _T(
        "{name}: an animated {kind}; the provider takes still images only",
        "{name}: アニメーションの {kind} です。プロバイダが受け付けるのは静止画だけです",
    ),
    "image.damaged": _T(
        "{name}: a damaged or truncated {kind} image ({detail})",
        "{name}: 壊れているか途中で切れた {kind} 画像です ({detail})",
    ),
    "image.pixels": _T("{width}x{height} pixels", "{width}x{height} ピクセル"),
    "image.too_many_pixels": _T("too many pixels", "ピクセル数が多すぎます"),
    "image.over_megapixels": _T(
        "{name}: {what}, over the {limit} megapixels unyo decodes (a decompression bomb, or a "
        "scan far larger than the model can use); scale it down first",
        "{name}: {what}。unyo がデコードする {limit} メガピクセルを超えています (展開爆弾か、モデルが使えるより"
        "はるかに大きいスキャンです)。先に縮小してください",
    ),
    "image.not_regular": _T(
        "{path}: not a regular file (a device, pipe or socket); give an image file",
        "{path}: 通常のファイルではありません (デバイス・パイプ・ソケット)。画像ファイルを指定してください",
    ),
    "image.no_such_file": _T("{path}: no such image file", "{path}: そのような画像ファイルはありません"),
    "image.directory": _T("{path}: is a directory, not an image file", "{path}: 画像ファイルではなくディレクトリです"),
    "image.url_characters": _T(
        "{url}: an image URL may not hold a backslash, a space or a control character",
        "{url}: 画像の URL にバックスラッシュ・空白・制御文字は使えません",
    ),
    "image.url_scheme": _T(
        "{url}: image URLs must be http:// or https:// with a host",
        "{url}: 画像の URL はホストを含む http:// か https:// にしてください",
    ),
    "image.url_unresolved": _T(
        "{url}: the host {host} does not resolve",
        "{url}: ホスト {host} の名前解決ができません",
    ),
    "image.url_private": _T(
        "{url}: {host} is a private, loopback or link-local address ({addresses}); "
        "refused so a request cannot reach into a private network. Allow it explicitly "
        "(allow_hosts / image_hosts) if this is intended",
        "{url}: {host} はプライベート・ループバック・リンクローカルのアドレスです ({addresses})。リクエストが"
        "内部ネットワークに届かないよう拒否しました。意図したものなら明示的に許可してください (allow_hosts / "
        "image_hosts)",
    ),
    "batch.interrupted": _T("interrupted (Ctrl-C)", "中断しました (Ctrl-C)"),
    "batch.max_cost_reached": _T(
        "--max-cost ${max_cost} reached (spent ${spent}, reserved ${reserved})",
        "--max-cost ${max_cost} に達しました (使用済み ${spent}、予約中 ${reserved})",
    ),
    # --- the ledger database ------------------------------------------------------------------------------------------
    "store.bad_url": _T(
        "UNYO_DB_URL must start with postgresql:// or sqlite:///, got {scheme}://...",
        "UNYO_DB_URL は postgresql:// か sqlite:/// で始めてください (指定: {scheme}://...)",
    ),
    "store.sqlite_unwritable": _T(
        "cannot create the unyo database at {path}: {reason} (set UNYO_HOME to a writable directory)",
        "{path} に unyo のデータベースを作成できません: {reason} (UNYO_HOME を書き込めるディレクトリにしてください)",
    ),
    # --- the call itself ----------------------------------------------------------------------------------------------
    "context.too_long": _T(
        "{input} input tokens + {cap} output cap = {needed} exceeds {model}'s context window of {window} tokens "
        "(not sent)",
        "入力 {input} トークン + 出力上限 {cap} = {needed} トークンが {model} のコンテキスト長 {window} トークンを"
        "超えています (送信していません)",
    ),
    "stream.no_final_event": _T(
        "stream ended without a final event after {chars} characters",
        "ストリームが {chars} 文字の後、最後のイベントなしに終わりました",
    ),
    "finetune.dataset_problems": _T(
        "{count} problem(s) in the dataset: {shown}{more}; nothing uploaded",
        "データセットに問題が {count} 件あります: {shown}{more}。何もアップロードしていません",
    ),
    "finetune.not_ready": _T(
        "job {job} is {status}: there is no tuned model to use yet",
        "ジョブ {job} は {status} です。使える学習済みモデルはまだありません",
    ),
    "finetune.and_more": _T(" (and {count} more)", " (ほか {count} 件)"),
    "finetune.no_api": _T(
        "profile {profile!r} has no fine-tuning API known to unyo. If its endpoint offers "
        "OpenAI's /v1/fine_tuning/jobs, set fine_tuning = true under [profiles.{profile}]",
        "プロファイル {profile!r} には unyo の知るファインチューニング API がありません。エンドポイントが OpenAI の "
        "/v1/fine_tuning/jobs を提供しているなら、[profiles.{profile}] に fine_tuning = true を設定してください",
    ),
}
