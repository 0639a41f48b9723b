"""The console's words in English and Japanese (`?lang=ja|en`, else Accept-Language)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {  # key -> (en, ja)
    "title": ("unyo console", "unyo コンソール"),
    "sign_in": ("Sign in", "サインイン"),
    "sign_out": ("Sign out", "サインアウト"),
    "key": ("Virtual key", "仮想キー"),
    "bad_key": ("That key is unknown, revoked or expired.", "このキーは不明、失効済み、または期限切れです。"),
    "chat": ("Chat", "チャット"),
    "usage": ("Usage", "利用状況"),
    "review": ("Review queue", "レビュー待ち"),
    "admin": ("Admin", "管理"),
    "role": ("Role", "ロール"),
    "send": ("Send", "送信"),
    "stop": ("Stop", "停止"),
    "new_chat": ("New conversation", "新しい会話"),
    "conversations": ("Conversations", "会話"),
    "spend_day": ("Spend by day", "日別の費用"),
    "spend_model": ("Spend by model", "モデル別の費用"),
    "spend_user": ("Spend by user", "ユーザー別の費用"),
    "spend_tag": ("Spend by tag", "タグ別の費用"),
    "spend_key": ("Spend by key", "キー別の費用"),
    "budget": ("Monthly budget", "月間予算"),
    "budget_daily": ("Daily budget", "日次予算"),
    "calls": ("Calls", "呼び出し"),
    "failures": ("Failures", "失敗"),
    "cache_hits": ("Cache hits", "キャッシュヒット"),
    "latency": ("Latency p50 / p95", "レイテンシ p50 / p95"),
    "spent": ("Spent this month", "今月の費用"),
    "approve": ("Approve", "承認"),
    "edit": ("Save edit and approve", "編集して承認"),
    "reject": ("Reject", "却下"),
    "status": ("Status", "状態"),
    "reason": ("Reason", "理由"),
    "input": ("Input", "入力"),
    "output": ("Output", "出力"),
    "history": ("History", "履歴"),
    "keys_title": ("Keys", "キー"),
    "audit": ("Audit log (masked)", "監査ログ(マスク済み)"),
    "nothing": ("Nothing here.", "ありません。"),
    "tokens": ("tokens", "トークン"),
    "stopped": ("stopped", "停止しました"),
}


def lang_of(query: str | None, accept: str | None) -> str:
    if query in ("ja", "en"):
        return query
    return "ja" if (accept or "").lower().startswith("ja") else "en"


def words(lang: str) -> dict[str, str]:
    i = 1 if lang == "ja" else 0
    return {k: v[i] for k, v in WORDS.items()}
