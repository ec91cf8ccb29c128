# Sunlit — two commands do everything on a fresh machine with Python 3.11+ and make:
#   make serve   create .venv, install, migrate, load demo data, start the server
#   make test    install what the tests need (Python packages, chromium for page tests), run the suite

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
SUNLIT_DATA ?= var
export SUNLIT_DATA

.PHONY: serve test install install-test lint bench clean fuzz i18n

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip setuptools wheel
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test
	@if [ -x bin/install-browser ]; then bin/install-browser; fi

serve: install
	@mkdir -p $(SUNLIT_DATA)
	$(VENV)/bin/sunlit serve --demo

test: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The full-length schemathesis run over every operation of the served OpenAPI (several
# minutes); `make test` runs the same test with a few examples per operation.
FUZZ_EXAMPLES ?= 50
fuzz: $(VENV)/.installed-test
	SUNLIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider -s tests/e2e/test_openapi_fuzz.py

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install-test
	$(PY) bench/run_all.py

# Re-extract the pages' strings (templates and web/pages/*.py) and update both catalogs; then
# translate the new empty msgstr entries in web/locale/zh_CN/LC_MESSAGES/messages.po (English
# is filled with its source text). Catalogs are compiled in memory at startup: no .mo files.
i18n: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header -o web/locale/messages.pot .
	$(VENV)/bin/pybabel update -i web/locale/messages.pot -d web/locale -N --omit-header --no-wrap
	$(PY) -m web.i18n

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
