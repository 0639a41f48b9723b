"""The examples each command's --help ends with (plain strings: importing this costs nothing).
tests/test_cli_conventions.py checks that every command has some."""

EXAMPLES = {
    "ask": """\
  unyo ask "日本の首都は?"
  cat minutes.txt | unyo ask "この議事録を要約して"      stdin is the material, the words the instruction
  unyo ask "違いは?" @old.md @new.md                      @FILE words (or --file PATH) add files
  unyo ask -c "もっと短く"                                 continue your last conversation
  unyo ask -t summary < report.txt                        a saved template (unyo templates)
  unyo ask --json --schema invoice.json "請求書: ..."     validated structured output""",
    "chat": """\
  unyo chat
  unyo chat --user alice --conversation support-42     stored, resumable""",
    "conversations": """\
  unyo conversations list --user alice
  unyo conversations show conv-1234 --user alice
  unyo conversations rm conv-1234 --user alice --yes""",
    "run": """\
  unyo run triage "ログインできません"
  unyo run summarize --file long.md
  unyo run triage --input inquiries.csv --output triaged.xlsx --max-cost 2
  unyo run classify --input rows.jsonl --set labels=billing,bug,other
  unyo run extract --schema invoice.json --input invoices.csv --dry-run""",
    "tasks": """\
  unyo tasks list
  unyo tasks show triage""",
    "models": """\
  unyo models
  unyo models --format json""",
    "init": """\
  unyo init""",
    "config": """\
  unyo config path
  unyo config show
  unyo config trust https://llm.example.internal/v1""",
    "doctor": """\
  unyo doctor
  unyo doctor --offline --json""",
    "usage": """\
  unyo usage
  unyo usage --since 7d --by model
  unyo usage --since yesterday --format csv > usage.csv
  unyo usage --html report.html""",
    "reconcile": """\
  OPENAI_ADMIN_KEY=... unyo reconcile --since 30d
  unyo reconcile --by model --html bill.html""",
    "budget": """\
  unyo budget
  unyo budget --user alice --json""",
    "logs": """\
  unyo logs -n 50 --status failed
  unyo logs --tools --since 24h
  unyo logs export audit.jsonl --since 2026-W48
  unyo logs prune --days 30 --yes""",
    "estimate": """\
  unyo estimate -m gpt-5-mini --requests-per-day 500 --input-tokens 1200 --output-tokens 300
  unyo estimate -m main --requests-per-day 2000 --input-tokens 800 --output-tokens 200 --via batch-api""",
    "image": """\
  unyo image "青い空と富士山の水彩画" -o fuji.png --size 1024x1024 --quality medium
  unyo image "logo idea" -m dall-e-3 -o logo.png --json""",
    "eval": """\
  unyo eval --task triage                                   the built-in suite, on the current profile
  unyo eval suite.yaml --html report.html --junit results.xml --fail-under 0.9
  unyo eval suite.yaml --baseline yesterday.json --fail-on-regression
  unyo eval compare --task classify -m main -m bulk -m local""",
    "serve": """\
  UNYO_GATEWAY_SECRET_FILE=/run/secrets/unyo unyo serve --host 127.0.0.1 --port 8080
  unyo serve --workers 2        then point any OpenAI client at http://HOST:8080/v1 with a virtual key""",
    "keys": """\
  unyo keys create --name team-a --models main,bulk --budget-monthly 50 --rpm 600 --expires 90d --json
  unyo keys list
  unyo keys revoke team-a --yes
  unyo keys rotate team-a""",
    "review": """\
  unyo run triage --input inbox.csv --output triaged.csv --review flagged
  unyo review list
  unyo review approve ITEM --as tanaka
  unyo review edit ITEM --as tanaka            then the same `unyo run` writes the approved rows
  unyo review export approved.jsonl""",
    "kb": """\
  unyo kb add ../shared/corpus --kb guides
  unyo kb search "APIキーの保管方法" --kb guides -k 5 --json
  unyo ask --kb guides "APIキーはどこに保存すべき?"
  unyo kb ls""",
    "templates": """\
  unyo templates save summary --system "箇条書きで3点に要約する" -m bulk --max-output-tokens 300
  unyo templates save translate --prompt 'Translate into English: $input'
  unyo templates list
  unyo ask -t summary < report.txt""",
    "aliases": """\
  unyo aliases set fast gpt-5-nano
  unyo ask -m fast "hi"
  unyo aliases list""",
    "finetune": """\
  unyo finetune validate train.jsonl -m gpt-4.1-mini --epochs 3     every defect with its line; exit 7
  unyo finetune create train.jsonl -m gpt-4.1-mini --epochs 3 --max-cost 2
  unyo finetune attach ftjob-abc123                                   follow it again after Ctrl-C
  unyo finetune use ftjob-abc123 --role main                          the tuned model serves main""",
    "completion": """\
  unyo completion bash > ~/.local/share/bash-completion/completions/unyo
  unyo completion zsh > "${fpath[1]}/_unyo"
  unyo completion fish > ~/.config/fish/completions/unyo.fish""",
}


def epilog(command: str, extra: str = "") -> str:
    text = EXAMPLES.get(command, "")
    parts = [f"examples:\n{text}"] if text else []
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)
