# Everyday commands. `just --list` shows them.

# Serve every butler in butlers.d/ on the embedded PostgreSQL
run:
    uv run butlerd serve

# Run the whole test suite (what CI runs)
test:
    uv run pytest

# Fast tests only
test-unit:
    uv run pytest -m unit -q

# Lint, format check and type check
lint:
    uv run ruff check src tests benches scripts
    uv run ruff format --check src tests benches scripts
    uv run mypy

# Format the code
fmt:
    uv run ruff format src tests benches scripts
    uv run ruff check --fix src tests benches scripts

# Retake the dashboard's screenshots in docs/screenshots (a plain test run puts them in $TMPDIR/butlers-screenshots)
screenshots:
    BUTLERS_TEST_SCREENSHOTS="$PWD/docs/screenshots" uv run pytest tests/integration -k dashboard -q

# Regenerate docs/cli.md from the code
docs:
    uv run python scripts/gen_cli_docs.py

# Benchmarks against the floor (figures printed; see docs/benchmarks.md); `just bench --quick` for a sanity run
bench *ARGS:
    uv run python benches/startup.py {{ARGS}}
    uv run python benches/tool_calls.py {{ARGS}}
    uv run python benches/schedule_lateness.py {{ARGS}}
    uv run python benches/spawner.py {{ARGS}}

# Build the container image from a local Debian base and smoke-test it (as root; docs/operating.md)
container:
    scripts/build_container.sh
