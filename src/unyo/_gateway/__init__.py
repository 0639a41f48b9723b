"""`unyo serve`: the OpenAI-compatible gateway (FastAPI + uvicorn) in front of the guarded client,
with virtual keys (`_keys`), per-key budgets and rates, OpenAI error bodies and Prometheus metrics.
Nothing here is imported by `unyo --help`: FastAPI loads only when the server starts."""
