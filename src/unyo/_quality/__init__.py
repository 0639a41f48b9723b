"""What makes answers usable: ask/stream, structured output, classification, tools behind an
allowlist with guards, conversations."""
