"""butlerctl as a user runs it: list, check, init, status — output, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import FastMCP
from typer.testing import CliRunner, Result

from butlers.cli.butlerctl import app, format_uptime
from butlers.config import CONFIG_FILE, load_butler_config
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def butler_toml(name: str, port: int, extra: str = "") -> str:
    return f'[butler]\nname = "{name}"\ndescription = "The {name} butler"\nport = {port}\n{extra}'


def write_butler(root: Path, name: str, port: int, extra: str = "", folder: str | None = None) -> Path:
    directory = root / (folder or name)
    directory.mkdir(parents=True)
    (directory / CONFIG_FILE).write_text(butler_toml(name, port, extra), encoding="utf-8")
    return directory


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "butlers.d"
    write_butler(r, "alpha", 8150, '[[butler.schedule]]\nname = "daily"\ncron = "0 8 * * *"\nprompt = "Hello"\n')
    write_butler(r, "beta", 8151, "[modules.notes]\n")
    return r


# ---------------------------------------------------------------- list


def test_list_shows_each_butler_with_port_modules_and_schedules(root: Path) -> None:
    result = run("list", "--dir", str(root))
    assert result.exit_code == 0, result.output
    assert "alpha  port 8150  The alpha butler" in result.stdout
    assert "schedule daily: 0 8 * * *" in result.stdout
    assert "beta  port 8151" in result.stdout
    assert "modules: notes" in result.stdout


def test_list_json_is_parseable(root: Path) -> None:
    result = run("list", "--dir", str(root), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [b["name"] for b in data["butlers"]] == ["alpha", "beta"]
    alpha = data["butlers"][0]
    assert alpha["port"] == 8150
    assert alpha["schedules"] == [{"name": "daily", "cron": "0 8 * * *", "timezone": None, "enabled": True}]
    assert data["butlers"][1]["modules"] == ["notes"]
    assert data["errors"] == []


def test_list_reports_bad_configs_on_stderr_and_still_lists_the_good(root: Path) -> None:
    write_butler(root, "gamma", 8152, "colour = 1\n")
    result = run("list", "--dir", str(root), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [b["name"] for b in data["butlers"]] == ["alpha", "beta"]
    assert data["errors"] == [
        {"file": str(root / "gamma" / CONFIG_FILE), "key": "butler.colour", "message": "unknown key"}
    ]
    assert "gamma/butler.toml: butler.colour: unknown key" in result.stderr


def test_list_reads_the_butler_folder_from_the_environment(root: Path) -> None:
    result = run("list", env={"BUTLERS_DIR": str(root)})
    assert result.exit_code == 0
    assert "alpha" in result.stdout


def test_list_of_a_missing_folder_fails(tmp_path: Path) -> None:
    result = run("list", "--dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


# ---------------------------------------------------------------- check


def test_check_passes_on_good_configs(root: Path) -> None:
    result = run("check", "--dir", str(root))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 butlers OK"


def test_check_passes_on_the_shipped_butlers(shipped: Path) -> None:
    result = run("check", "--dir", str(shipped))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "4 butlers OK"


def test_check_lists_every_error(root: Path) -> None:
    write_butler(root, "cron", 8160, '[[butler.schedule]]\nname = "x"\ncron = "99 * * * *"\nprompt = "p"\n')
    write_butler(root, "typo", 8161, "colour = 1\n")
    write_butler(root, "twin", 8150)  # port of alpha
    write_butler(root, "beta", 8162, folder="beta2")  # name of beta
    write_butler(root, "mods", 8163, "[modules.nosuch]\n[modules.notes]\nmax_body_chars = 0\n")
    (root / "broken").mkdir()
    (root / "broken" / CONFIG_FILE).write_text("[butler\n")

    result = run("check", "--dir", str(root), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    found = {(Path(e["file"]).parent.name, e["key"]) for e in data["errors"]}
    assert found == {
        ("cron", "butler.schedule[0].cron"),
        ("typo", "butler.colour"),
        ("twin", "butler.port"),
        ("beta2", "butler.name"),
        ("mods", "modules.nosuch"),
        ("mods", "modules.notes.max_body_chars"),
        ("broken", None),
    }
    assert data["butlers"] == ["alpha", "beta"]

    human = run("check", "--dir", str(root))
    assert human.exit_code == 1
    assert human.stdout == ""
    assert human.stderr.count("error: ") == len(found)
    assert f"{len(found)} errors found" in human.stderr
    assert "unknown module 'nosuch'" in human.stderr


def test_check_reports_module_errors_of_a_butler_that_also_clashes(root: Path) -> None:
    write_butler(root, "twin", 8150, "[modules.nosuch]\n")
    result = run("check", "--dir", str(root), "--json")
    keys = {e["key"] for e in json.loads(result.stdout)["errors"]}
    assert keys == {"butler.port", "modules.nosuch"}


# ---------------------------------------------------------------- init


def test_init_scaffolds_a_butler_that_loads_and_checks_clean(root: Path) -> None:
    result = run("init", "mybutler", "--port", "8104", "--dir", str(root), "--description", 'Says "hi"')
    assert result.exit_code == 0, result.output
    folder = root / "mybutler"
    assert sorted(p.name for p in folder.iterdir()) == ["AGENTS.md", "CLAUDE.md", "butler.toml", "skills"]
    assert (folder / "skills" / "README.md").is_file()
    config = load_butler_config(folder, env={})
    assert (config.name, config.port, config.description) == ("mybutler", 8104, 'Says "hi"')
    assert "mybutler" in config.system_prompt
    text = (folder / CONFIG_FILE).read_text()
    assert "# [[butler.schedule]]" in text and "[butler.agent]" in text
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging left behind
    assert run("check", "--dir", str(root)).stdout.strip() == "3 butlers OK"


def test_init_creates_a_missing_butler_folder(tmp_path: Path) -> None:
    result = run("init", "solo", "--port", "8200", "--dir", str(tmp_path / "new"))
    assert result.exit_code == 0, result.output
    assert load_butler_config(tmp_path / "new" / "solo", env={}).port == 8200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alpha", "--port", "8199"], "already exists"),
        (["Bad Name", "--port", "8199"], "not a valid butler name"),
        (["gamma", "--port", "8150"], "port 8150 is already used by butler 'alpha'"),
        (["gamma", "--port", "0"], "out of range"),
        (["gamma", "--port", "70000"], "out of range"),
    ],
)
def test_init_refuses_and_writes_nothing(root: Path, args: list[str], message: str) -> None:
    before = snapshot(root)
    result = run("init", *args, "--dir", str(root))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "not created" in result.stderr
    assert snapshot(root) == before


def test_init_refuses_a_port_held_by_a_butler_whose_file_is_otherwise_broken(root: Path) -> None:
    write_butler(root, "gamma", 8152, "colour = 1\n")
    before = snapshot(root)
    result = run("init", "delta", "--port", "8152", "--dir", str(root))
    assert result.exit_code == 1
    assert snapshot(root) == before


def test_init_refusal_into_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    result = run("init", "Bad", "--port", "8100", "--dir", str(tmp_path / "new"))
    assert result.exit_code == 1
    assert not (tmp_path / "new").exists()


def test_init_without_port_is_a_usage_error(root: Path) -> None:
    assert run("init", "gamma", "--dir", str(root)).exit_code == 2


def test_unknown_command_is_a_usage_error() -> None:
    assert run("frobnicate").exit_code == 2


def test_every_command_and_option_has_help() -> None:
    import typer

    group: Any = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="butlerctl")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None and command.help, f"butlerctl {name} has no help"
        for param in command.get_params(ctx):
            assert getattr(param, "help", None), f"butlerctl {name} {param.name} has no help"


# ---------------------------------------------------------------- status


def test_status_reports_a_butler_that_is_not_running_as_down(tmp_path: Path) -> None:
    root = tmp_path / "b"
    port = free_port()
    write_butler(root, "alpha", port)
    result = run("status", "--dir", str(root), "--timeout", "2")
    assert result.exit_code == 1
    assert "alpha" in result.stdout and "down" in result.stdout
    assert f"http://127.0.0.1:{port}/mcp" in result.stdout

    data = json.loads(run("status", "--dir", str(root), "--json", "--timeout", "2").stdout)
    [row] = data["butlers"]
    assert (row["name"], row["up"]) == ("alpha", False)


def fake_butler(name: str, database_ok: bool = True, notes_ok: bool = True) -> FastMCP:
    """A stand-in answering `status` in the shape Butler.status() has."""
    mcp: FastMCP = FastMCP(name)

    @mcp.tool(name="status")
    async def status() -> dict[str, Any]:
        notes = {"ok": True} if notes_ok else {"ok": False, "error": "table missing"}
        return {"name": name, "phase": "serving", "uptime_s": 3725.0, "database": {"ok": database_ok},
                "modules": {"notes": notes}}  # fmt: skip

    return mcp


async def test_status_asks_each_running_butler_over_mcp(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with serve_asgi(fake_butler("alpha").http_app(path="/mcp")) as url:
        write_butler(root, "alpha", int(url.rsplit(":", 1)[1]))
        write_butler(root, "beta", free_port())
        result = await anyio.to_thread.run_sync(lambda: run("status", "--dir", str(root), "--json", "--timeout", "5"))
    assert result.exit_code == 1  # beta is down
    rows = {r["name"]: r for r in json.loads(result.stdout)["butlers"]}
    assert rows["alpha"]["up"] is True
    assert rows["alpha"]["uptime_s"] == 3725.0
    assert rows["alpha"]["database"] == "ok"
    assert rows["alpha"]["error"] is None
    assert rows["beta"]["up"] is False


async def test_status_is_ok_when_every_butler_is_up_and_healthy(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with serve_asgi(fake_butler("alpha").http_app(path="/mcp")) as url:
        write_butler(root, "alpha", int(url.rsplit(":", 1)[1]))
        result = await anyio.to_thread.run_sync(lambda: run("status", "--dir", str(root), "--timeout", "5"))
    assert result.exit_code == 0, result.output
    assert "alpha  up    port" in result.stdout
    assert "uptime 1h02m  db ok" in result.stdout


async def test_status_flags_an_unhealthy_database(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with serve_asgi(fake_butler("alpha", database_ok=False).http_app(path="/mcp")) as url:
        write_butler(root, "alpha", int(url.rsplit(":", 1)[1]))
        result = await anyio.to_thread.run_sync(lambda: run("status", "--dir", str(root), "--timeout", "5"))
    assert result.exit_code == 1
    assert "db unhealthy" in result.stdout


async def test_status_flags_an_unhealthy_module(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with serve_asgi(fake_butler("alpha", notes_ok=False).http_app(path="/mcp")) as url:
        write_butler(root, "alpha", int(url.rsplit(":", 1)[1]))
        result = await anyio.to_thread.run_sync(lambda: run("status", "--dir", str(root), "--timeout", "5"))
    assert result.exit_code == 1
    assert "module notes: table missing" in result.stdout


async def test_status_notices_another_butler_on_the_port(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with serve_asgi(fake_butler("intruder").http_app(path="/mcp")) as url:
        write_butler(root, "alpha", int(url.rsplit(":", 1)[1]))
        result = await anyio.to_thread.run_sync(lambda: run("status", "--dir", str(root), "--timeout", "5"))
    assert result.exit_code == 1
    assert "answered by butler 'intruder'" in result.stdout


def test_uptime_is_readable() -> None:
    assert [format_uptime(s) for s in (None, 59, 3725, 90000)] == ["-", "0m59s", "1h02m", "1d01h"]


@pytest.mark.parametrize("zone", ["America", "Etc", "Europe/Nowhere"])
def test_check_names_file_and_key_of_a_bad_time_zone_without_a_traceback(root: Path, zone: str) -> None:
    schedule = f'[[butler.schedule]]\nname = "x"\ncron = "0 8 * * *"\nprompt = "p"\ntimezone = "{zone}"\n'
    folder = write_butler(root, "zoned", 8170, schedule)
    write_butler(root, "cal", 8171, f'[modules.calendar]\ntimezone = "{zone}"\n')
    result = run("check", "--dir", str(root))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "IsADirectoryError" not in result.output
    assert "site-packages" not in result.output  # no install path leaks
    assert f"{folder / CONFIG_FILE}: butler.schedule[0].timezone: '{zone}' is not a known IANA time zone" in (
        result.stderr
    )
    assert "modules.calendar.timezone" in result.stderr
    data = json.loads(run("check", "--dir", str(root), "--json").stdout)
    assert data["butlers"] == ["alpha", "beta"]
