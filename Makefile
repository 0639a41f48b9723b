# The two set-up commands in README.md: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp is compiled on install (~8 min on 2 cores the first time; pip caches the wheel).
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

# The main job on the bundled local model: no key, no network.
demo: install
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL UNYO_PROFILE=local $(BIN)/unyo doctor --offline
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL UNYO_PROFILE=local $(BIN)/unyo ask --no-stream --temperature 0 --max-output-tokens 60 \
		"In one sentence: why should an app cap the output tokens of every LLM call?"
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL UNYO_PROFILE=local $(BIN)/unyo ask --json --temperature 0 --max-output-tokens 40 "Say hello in Japanese."
	$(BIN)/unyo estimate -m gpt-5-mini --requests-per-day 500 --input-tokens 1200 --output-tokens 300 --max-output-tokens 800
	mkdir -p out
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL UNYO_PROFILE=local $(BIN)/unyo run triage --input samples/inquiries.csv --output out/inquiries.triage.csv
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL UNYO_PROFILE=local $(BIN)/unyo logs -n 3
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL UNYO_PROFILE=local $(BIN)/unyo usage --since 1h --by tag

test: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q

bench: install-test
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/local_tps.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/batch_api.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache out
