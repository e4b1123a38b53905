"""butler.toml: every mistake a user can make is reported with the file, the key and what is expected."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest
from pydantic import BaseModel

from butlers.config import (
    CONFIG_FILE,
    AgentConfig,
    ButlerSection,
    EnvConfig,
    ScheduleConfig,
    discover,
    load_butler_config,
)
from butlers.errors import ConfigError, ConfigErrors
from butlers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GOOD = """
[butler]
name = "alpha"
port = 8150
"""


def write_butler(root: Path, folder: str, text: str) -> Path:
    directory = root / folder
    directory.mkdir(parents=True)
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    return directory


def errors_of(directory: Path, env: dict[str, str] | None = None) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as caught:
        load_butler_config(directory, env={} if env is None else env)
    return caught.value.errors


def only_error(directory: Path, env: dict[str, str] | None = None) -> ConfigError:
    errors = errors_of(directory, env)
    assert len(errors) == 1, errors
    error = errors[0]
    assert error.file == str(directory / CONFIG_FILE)
    assert str(directory / CONFIG_FILE) in str(error)
    return error


def test_a_minimal_butler_loads_with_defaults(tmp_path: Path) -> None:
    config = load_butler_config(write_butler(tmp_path, "alpha", GOOD), env={})
    assert (config.name, config.port, config.description) == ("alpha", 8150, "")
    assert config.schedules == []
    assert config.agent == AgentConfig()
    assert config.modules == {}


def test_unknown_key_is_named(tmp_path: Path) -> None:
    error = only_error(write_butler(tmp_path, "a", GOOD + 'colour = "blue"\n'))
    assert error.key == "butler.colour"
    assert "unknown key" in str(error)


def test_unknown_key_in_a_schedule_names_its_index(tmp_path: Path) -> None:
    text = GOOD + '[[butler.schedule]]\nname = "x"\ncron = "0 8 * * *"\nprompt = "p"\nwhen = "now"\n'
    assert only_error(write_butler(tmp_path, "a", text)).key == "butler.schedule[0].when"


def test_bad_type_is_named_with_what_is_expected(tmp_path: Path) -> None:
    error = only_error(write_butler(tmp_path, "a", GOOD.replace("8150", '"eighty"')))
    assert error.key == "butler.port"
    assert "integer" in str(error)


def test_port_out_of_range_is_an_error(tmp_path: Path) -> None:
    error = only_error(write_butler(tmp_path, "a", GOOD.replace("8150", "70000")))
    assert error.key == "butler.port"
    assert "65535" in str(error)


def test_bad_cron_is_named(tmp_path: Path) -> None:
    text = GOOD + '[[butler.schedule]]\nname = "x"\ncron = "0 25 * * *"\nprompt = "p"\n'
    error = only_error(write_butler(tmp_path, "a", text))
    assert error.key == "butler.schedule[0].cron"
    assert "'0 25 * * *' is not a valid five-field cron expression" in str(error)


def test_six_field_cron_is_refused(tmp_path: Path) -> None:
    text = GOOD + '[[butler.schedule]]\nname = "x"\ncron = "0 0 8 * * *"\nprompt = "p"\n'
    assert only_error(write_butler(tmp_path, "a", text)).key == "butler.schedule[0].cron"


def test_bad_timezone_is_named(tmp_path: Path) -> None:
    text = GOOD + '[[butler.schedule]]\nname = "x"\ncron = "0 8 * * *"\nprompt = "p"\ntimezone = "Mars/Olympus"\n'
    error = only_error(write_butler(tmp_path, "a", text))
    assert error.key == "butler.schedule[0].timezone"
    assert "Mars/Olympus" in str(error)
    assert "IANA" in str(error)


def test_duplicate_schedule_names_are_refused(tmp_path: Path) -> None:
    schedule = '[[butler.schedule]]\nname = "daily"\ncron = "0 8 * * *"\nprompt = "p"\n'
    error = only_error(write_butler(tmp_path, "a", GOOD + schedule + schedule))
    assert error.key == "butler.schedule[1].name"
    assert "duplicate schedule name 'daily'" in str(error)


def test_missing_interpolated_variable_is_named(tmp_path: Path) -> None:
    error = only_error(
        write_butler(tmp_path, "a", GOOD.replace("port = 8150", 'description = "${NOPE_VAR}"\nport = 8150'))
    )
    assert error.key == "butler.description"
    assert "NOPE_VAR" in str(error)


def test_interpolated_variable_is_replaced(tmp_path: Path) -> None:
    directory = write_butler(tmp_path, "a", GOOD + '[modules.notes]\nlabel = "${LABEL}-x"\n')
    assert load_butler_config(directory, env={"LABEL": "mine"}).modules == {"notes": {"label": "mine-x"}}


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    error = only_error(write_butler(tmp_path, "a", "[butler\nname = 'x'\n"))
    assert "not valid TOML" in str(error)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    error = only_error(write_butler(tmp_path, "a", '[butler]\nname = "alpha"\n'))
    assert error.key == "butler.port"
    assert "required key is missing" in str(error)


def test_missing_butler_table_is_named(tmp_path: Path) -> None:
    assert only_error(write_butler(tmp_path, "a", "[modules.notes]\n")).key == "butler"


def test_invalid_name_is_named(tmp_path: Path) -> None:
    assert only_error(write_butler(tmp_path, "a", GOOD.replace('"alpha"', '"Alpha Butler"'))).key == "butler.name"


def test_every_error_of_one_file_is_listed_at_once(tmp_path: Path) -> None:
    text = '[butler]\nname = "alpha"\nport = "x"\ncolour = 1\n[butler.agent]\nmax_turns = 0\n'
    keys = {e.key for e in errors_of(write_butler(tmp_path, "a", text))}
    assert keys == {"butler.port", "butler.colour", "butler.agent.max_turns"}


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "file not found" in str(only_error(tmp_path / "empty"))


def test_duplicate_butler_names_across_butlers_are_reported_on_the_second(tmp_path: Path) -> None:
    write_butler(tmp_path, "a", GOOD)
    write_butler(tmp_path, "b", GOOD.replace("8150", "8151"))
    configs, errors = discover(tmp_path, env={})
    assert [c.name for c in configs] == ["alpha"]
    [error] = errors
    assert error.key == "butler.name"
    assert error.file is not None and error.file.endswith(f"b/{CONFIG_FILE}")
    assert "butler name 'alpha' is already used" in str(error)


def test_duplicate_ports_across_butlers_are_reported_on_the_second(tmp_path: Path) -> None:
    write_butler(tmp_path, "a", GOOD)
    write_butler(tmp_path, "b", GOOD.replace("alpha", "beta"))
    configs, errors = discover(tmp_path, env={})
    assert [c.name for c in configs] == ["alpha"]
    [error] = errors
    assert error.key == "butler.port"
    assert error.file is not None and error.file.endswith(f"b/{CONFIG_FILE}")
    assert "port 8150 is already used by butler 'alpha'" in str(error)


def test_one_bad_butler_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    write_butler(tmp_path, "a", GOOD)
    write_butler(tmp_path, "b", "not toml [")
    configs, errors = discover(tmp_path, env={})
    assert [c.name for c in configs] == ["alpha"]
    assert len(errors) == 1 and errors[0].file is not None and "b" in Path(errors[0].file).parts


def test_missing_butler_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        discover(tmp_path / "nowhere")
    assert "BUTLERS_DIR" in str(caught.value)


def test_shipped_butlers_load_clean(shipped: Path) -> None:
    configs, errors = discover(shipped, env={})
    assert errors == []
    assert {c.name: c.port for c in configs} == {
        "switchboard": 8100,
        "general": 8101,
        "relationship": 8102,
        "health": 8103,
    }
    for config in configs:
        assert config.description
        assert (config.directory / "CLAUDE.md").is_file()
        assert config.system_prompt.strip()


def test_shipped_schedules_are_not_frequent(shipped: Path) -> None:
    # Each run is a paid agent session: nothing shipped may fire more than hourly.
    configs, _ = discover(shipped, env={})
    for config in configs:
        for schedule in config.schedules:
            minute = cast(str, schedule.cron).split()[0]
            assert minute.isdigit(), f"{config.name}/{schedule.name} fires more than once an hour"


def test_shipped_general_enables_notes(shipped: Path) -> None:
    configs, _ = discover(shipped, env={})
    general = next(c for c in configs if c.name == "general")
    assert "notes" in general.modules
    assert [s.cron for s in general.schedules] == ["0 8 * * *"]


# ---------------------------------------------------------------- docs/configuration.md stays complete

CONFIG_DOC = REPO / "docs" / "configuration.md"


@pytest.mark.parametrize(
    ("prefix", "model"),
    [("butler.", ButlerSection), ("butler.schedule[].", ScheduleConfig), ("butler.env.", EnvConfig),
     ("butler.agent.", AgentConfig)],
)  # fmt: skip
def test_configuration_doc_names_every_key(prefix: str, model: type[BaseModel]) -> None:
    text = CONFIG_DOC.read_text(encoding="utf-8")
    nested = {"schedule", "env", "agent"}
    for field in model.model_fields:
        if prefix == "butler." and field in nested:
            continue
        assert f"`{prefix}{field}`" in text, f"docs/configuration.md does not document {prefix}{field}"


def test_configuration_doc_names_every_environment_variable() -> None:
    text = CONFIG_DOC.read_text(encoding="utf-8")
    prefix = Settings.model_config.get("env_prefix", "")
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        variables = alias.choices if alias is not None and hasattr(alias, "choices") else [f"{prefix}{name}".upper()]
        assert any(f"`{v}`" in text for v in variables), f"docs/configuration.md does not document {variables}"
    assert "`ANTHROPIC_API_KEY`" in text


def test_configuration_doc_example_is_a_valid_butler(tmp_path: Path) -> None:
    example = re.search(r"## `butler.toml`\s+```toml\n(.*?)```", CONFIG_DOC.read_text(encoding="utf-8"), re.S)
    assert example is not None
    config = load_butler_config(write_butler(tmp_path, "general", example.group(1)), env={})
    assert config.name == "general"
