"""What a user trips over when operating the CLI: versions, settings, exit codes, modes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from butlers.cli.butlerctl import app as butlerctl
from butlers.cli.butlerd import app as butlerd
from butlers.config import CONFIG_FILE
from butlers.errors import ConfigError
from butlers.settings import Settings, load_settings


def ctl(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(butlerctl, list(args), env=env)


@pytest.mark.parametrize(("app", "program"), [(butlerctl, "butlerctl"), (butlerd, "butlerd")])
def test_version(app: object, program: str) -> None:
    result = CliRunner().invoke(app, ["--version"])  # type: ignore[arg-type]
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{program} ")
    assert result.stdout.split()[1][0].isdigit()


def test_an_empty_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUTLERS_HEARTBEAT_INTERVAL_S", "")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "BUTLERS_HEARTBEAT_INTERVAL_S is empty" in message
    assert "Traceback" not in message


def test_butlerd_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        butlerd, ["serve", "--dir", str(tmp_path)], env={"BUTLERS_HEARTBEAT_INTERVAL_S": "soon"}
    )
    assert result.exit_code == 1
    assert "BUTLERS_HEARTBEAT_INTERVAL_S has 'soon'" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_otlp_base_endpoint_gets_the_traces_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert Settings().otlp_traces_endpoint is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert Settings().otlp_traces_endpoint == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom")
    assert Settings().otlp_traces_endpoint == "http://t:9/custom"


def _butler(root: Path, name: str, port: int, extra: str = "") -> None:
    (root / name).mkdir(parents=True)
    (root / name / CONFIG_FILE).write_text(f'[butler]\nname = "{name}"\nport = {port}\n{extra}', encoding="utf-8")


def test_check_fails_a_butler_whose_required_credentials_are_missing(tmp_path: Path) -> None:
    _butler(tmp_path, "mail", 8190, '[butler.env]\nrequired = ["BUTLERS_TEST_NEVER_SET"]\n')
    _butler(tmp_path, "plain", 8191)
    result = ctl("check", "--dir", str(tmp_path), env={"BUTLERS_TEST_NEVER_SET": ""})
    assert result.exit_code == 1
    assert "BUTLERS_TEST_NEVER_SET (for butler.env.required)" in result.output
    assert str(tmp_path / "mail" / CONFIG_FILE) in result.output
    ok = ctl("check", "--dir", str(tmp_path), env={"BUTLERS_TEST_NEVER_SET": "set"})
    assert ok.exit_code == 0, ok.output


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_init_gives_the_folder_the_umask_mode(tmp_path: Path, umask_022: None) -> None:
    result = ctl("init", "mine", "--port", "8195", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "mine").stat().st_mode) == 0o755


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "general", "--status", "bogus"],
        ["sessions", "general", "--source", "bogus"],
        ["approvals", "list", "general", "--status", "bogus"],
    ],
)
def test_a_bad_choice_is_a_usage_error(args: list[str]) -> None:
    result = ctl(*args)
    assert result.exit_code == 2, result.output
    assert "bogus" in result.output
