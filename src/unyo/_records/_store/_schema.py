"""Append-only migrations: never edit a released one, add the next version instead.

`{money}` is an exact decimal column (TEXT holding a Decimal in SQLite, NUMERIC in PostgreSQL),
`{real}` a float, `{bigint}` a 64-bit integer.
"""

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE unyo_counters (
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            spent {money} NOT NULL,
            reserved {money} NOT NULL,
            PRIMARY KEY (scope, period)
        );
        CREATE TABLE unyo_reservations (
            id TEXT PRIMARY KEY,
            amount {money} NOT NULL,
            keys TEXT NOT NULL,
            owner TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL
        );
        CREATE INDEX unyo_reservations_expires ON unyo_reservations (expires_at);
        CREATE TABLE unyo_warnings (
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            PRIMARY KEY (scope, period)
        );
        CREATE TABLE unyo_calls (
            id TEXT PRIMARY KEY,
            ts {real} NOT NULL,
            day TEXT NOT NULL,
            month TEXT NOT NULL,
            api TEXT NOT NULL,
            profile TEXT NOT NULL,
            host TEXT NOT NULL,
            model TEXT NOT NULL,
            role TEXT,
            user_id TEXT,
            tag TEXT,
            status TEXT NOT NULL,
            error TEXT,
            attempts INTEGER NOT NULL,
            latency_s {real},
            ttft_s {real},
            input_tokens {bigint} NOT NULL,
            cached_tokens {bigint} NOT NULL,
            output_tokens {bigint} NOT NULL,
            reasoning_tokens {bigint} NOT NULL,
            usage_reported INTEGER NOT NULL,
            cost {money},
            worst_case {money},
            cache_hit INTEGER NOT NULL,
            budget TEXT,
            request_id TEXT,
            response_id TEXT,
            stream INTEGER NOT NULL,
            content_policy TEXT NOT NULL,
            prompt TEXT,
            output TEXT,
            detail TEXT
        );
        CREATE INDEX unyo_calls_ts ON unyo_calls (ts);
        CREATE INDEX unyo_calls_day ON unyo_calls (day);
        CREATE TABLE unyo_cache (
            key TEXT PRIMARY KEY,
            api TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL
        );
        CREATE INDEX unyo_cache_expires ON unyo_cache (expires_at)
        """,
    ),
    (
        2,
        """
        CREATE TABLE unyo_tool_calls (
            id TEXT PRIMARY KEY,
            call_id TEXT,
            ts {real} NOT NULL,
            user_id TEXT,
            tag TEXT,
            name TEXT NOT NULL,
            arguments TEXT,
            outcome TEXT NOT NULL,
            error TEXT,
            duration_s {real},
            result_chars {bigint} NOT NULL
        );
        CREATE INDEX unyo_tool_calls_ts ON unyo_tool_calls (ts);
        CREATE TABLE unyo_conversations (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            strategy TEXT NOT NULL,
            system TEXT,
            summary TEXT,
            last_response_id TEXT,
            provider_id TEXT,
            chain_tokens {bigint} NOT NULL,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL
        );
        CREATE INDEX unyo_conversations_user ON unyo_conversations (user_id, updated_at);
        CREATE TABLE unyo_turns (
            conversation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            tokens {bigint} NOT NULL,
            ts {real} NOT NULL,
            response_id TEXT,
            PRIMARY KEY (conversation_id, seq)
        )
        """,
    ),
    (
        3,
        # `unyo reconcile`: one row per run (the ledger held against the provider's bill). Its
        # `--apply` adjustments are rows of unyo_calls with status 'adjustment' (api 'reconcile'),
        # next to the calls they correct, which are never rewritten.
        """
        CREATE TABLE unyo_reconciliations (
            id TEXT PRIMARY KEY,
            ran_at {real} NOT NULL,
            start_ts {real} NOT NULL,
            end_ts {real} NOT NULL,
            applied INTEGER NOT NULL,
            ledger_cost {money},
            provider_cost {money},
            adjustments INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX unyo_reconciliations_ran ON unyo_reconciliations (ran_at)
        """,
    ),
    (
        4,
        # Reports at scale (`unyo usage`, `logs`): one index per `logs` filter, newest first, and
        # the calls summed per slot x budget day x one dimension ('all', 'model', 'role', 'user',
        # 'tag', 'status', 'api'): unyo_rollups per UTC hour (slot = ts // 3600),
        # unyo_rollups_daily per UTC day (slot = ts // 86400). Both are kept in the transaction
        # that writes each call, and filled from the existing calls by the backfill below;
        # h0..h65 are the latency histogram (see _records/_rollup.py).
        """
        CREATE INDEX unyo_calls_user_ts ON unyo_calls (user_id, ts);
        CREATE INDEX unyo_calls_tag_ts ON unyo_calls (tag, ts);
        CREATE INDEX unyo_calls_model_ts ON unyo_calls (model, ts);
        CREATE INDEX unyo_calls_status_ts ON unyo_calls (status, ts);
        """
        + ";".join(
            f"""
        CREATE TABLE {table} (
            slot {{bigint}} NOT NULL,
            day TEXT NOT NULL,
            dim TEXT NOT NULL,
            value TEXT NOT NULL,
            calls {{bigint}} NOT NULL,
            failed {{bigint}} NOT NULL,
            cache_hits {{bigint}} NOT NULL,
            input_tokens {{bigint}} NOT NULL,
            cached_tokens {{bigint}} NOT NULL,
            output_tokens {{bigint}} NOT NULL,
            reasoning_tokens {{bigint}} NOT NULL,
            cost {{money}} NOT NULL,
            unpriced {{bigint}} NOT NULL,
            {"".join(f"h{i} {{bigint}} NOT NULL DEFAULT 0, " for i in range(66))}
            PRIMARY KEY (slot, day, dim, value)
        )"""
            for table in ("unyo_rollups", "unyo_rollups_daily")
        ),
    ),
    (
        5,
        # `unyo serve`'s virtual keys: only an HMAC of the key is kept (the server secret is not in
        # the database), so a leaked database does not leak a usable key. `models` is a JSON list
        # of allowed roles/model ids ('[]': any); limits are NULL when unset.
        """
        CREATE TABLE unyo_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            hint TEXT NOT NULL,
            models TEXT NOT NULL,
            budget_request {money},
            budget_daily {money},
            budget_monthly {money},
            rpm {bigint},
            tpm {bigint},
            user_id TEXT,
            tag TEXT,
            created_at {real} NOT NULL,
            expires_at {real},
            revoked_at {real},
            rotated_to TEXT
        );
        CREATE INDEX unyo_keys_name ON unyo_keys (name)
        """,
    ),
    (
        6,
        # The review queue (human in the loop): task outputs flagged `needs_human` (or every row of
        # `unyo run --review`) wait here until a reviewer approves, edits or rejects them; only
        # approved items leave (export, webhook). `unyo_review_actions` is its audit: who, when, what.
        """
        CREATE TABLE unyo_review_items (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            row_key TEXT NOT NULL,
            task TEXT NOT NULL,
            owner TEXT,
            reason TEXT NOT NULL,
            input TEXT NOT NULL,
            output TEXT NOT NULL,
            edited TEXT,
            status TEXT NOT NULL,
            created_at {real} NOT NULL,
            decided_by TEXT,
            decided_at {real},
            exported_at {real},
            UNIQUE (source, row_key)
        );
        CREATE INDEX unyo_review_items_status ON unyo_review_items (status, created_at);
        CREATE TABLE unyo_review_actions (
            id TEXT PRIMARY KEY,
            item_id TEXT NOT NULL,
            ts {real} NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX unyo_review_actions_item ON unyo_review_actions (item_id, ts)
        """,
    ),
]

# Python run right after a migration, in its transaction: name of a function taking (tx, store)
BACKFILLS: dict[int, str] = {4: "unyo._records._rollup:backfill"}
