"""The container files, read without podman: what the Containerfile and the compose files promise.

scripts/build_container.sh builds and smoke-tests the image itself (docs/operating.md, "Container");
these tests keep the files' promises from drifting between builds: base images as build arguments, a
HEALTHCHECK asking the daemon, tini as PID 1, a non-root user, and compose files that Debian's
podman-compose (1.0.3: no profiles, no optional env files, no empty `${VAR:-}` defaults) reads.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from support.system_packages import ensure_command

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ["compose.yaml", "compose.external-db.yaml"]
Instruction = dict[str, Any]


def instructions() -> list[Instruction]:
    text = (REPO / "Containerfile").read_bytes()
    return [i for i in DockerfileParser(fileobj=io.BytesIO(text)).structure if i["instruction"] != "COMMENT"]


def stages() -> list[tuple[str, list[Instruction]]]:
    """(FROM value, the stage's instructions) for each stage, in order."""
    found: list[tuple[str, list[Instruction]]] = []
    for instruction in instructions():
        if instruction["instruction"] == "FROM":
            found.append((instruction["value"], []))
        elif found:
            found[-1][1].append(instruction)
    return found


def stage(name: str) -> list[Instruction]:
    [body] = [body for value, body in stages() if value.lower().endswith(f" as {name}")]
    return body


def values(body: list[Instruction], kind: str) -> list[str]:
    return [i["value"] for i in body if i["instruction"] == kind]


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


# ---------------------------------------------------------------- Containerfile


def test_base_images_are_build_arguments() -> None:
    before_first_from = []
    for instruction in instructions():
        if instruction["instruction"] == "FROM":
            break
        before_first_from.append(instruction)
    assert values(before_first_from, "ARG") == ["PYTHON_IMAGE=python:3.11-slim"]
    assert stages()[0][0] == "${PYTHON_IMAGE} AS base"
    # uv comes from a package index chosen by argument, never from an image registry.
    build = stage("runtime")
    assert any(v.startswith("UV_VERSION=") for v in values(build, "ARG"))
    assert any(v.startswith("PIP_INDEX_URL=") for v in values(build, "ARG"))
    text = (REPO / "Containerfile").read_text(encoding="utf-8")
    assert "ghcr.io" not in text and "COPY --from=ghcr" not in text


def test_the_default_target_is_the_runtime_image_with_healthcheck_tini_and_a_user() -> None:
    final_from, final_body = stages()[-1]
    assert final_from == "runtime" and final_body == []  # a plain build skips the smoke stage
    runtime = stage("runtime")
    [healthcheck] = values(runtime, "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["butlerctl", "status"] and "--timeout" in command
    assert re.search(r"--start-period=\d+s", healthcheck)
    assert [json.loads(v) for v in values(runtime, "ENTRYPOINT")] == [["tini", "--"]]
    assert [json.loads(v) for v in values(runtime, "CMD")] == [["butlerd", "serve"]]
    users = values(runtime, "USER")
    assert users and users[-1] not in ("root", "0", "0:0")
    # tini is Debian's package, installed in the base when the image lacks it.
    assert any("install -y --no-install-recommends tini" in v for v in values(stage("base"), "RUN"))


def test_the_runtime_listens_on_all_interfaces_and_says_the_token_is_needed() -> None:
    env = " ".join(values(stage("runtime"), "ENV"))
    assert "BUTLERS_HOST=0.0.0.0" in env and "BUTLERS_DATA_DIR=/data" in env
    assert "BUTLERS_TOKEN" in (REPO / "Containerfile").read_text(encoding="utf-8")


def test_the_smoke_stage_runs_the_shipped_smoke_script() -> None:
    smoke = stage("smoke")
    assert any("scripts/container_smoke.sh" in v for v in values(smoke, "COPY"))
    assert values(smoke, "RUN") == ["sh /tmp/container_smoke.sh"]


def test_every_copied_path_exists() -> None:
    for instruction in instructions():
        if instruction["instruction"] != "COPY" or "--from=" in instruction["value"]:
            continue
        sources = [w for w in instruction["value"].split() if not w.startswith("--")][:-1]
        for source in sources:
            assert (REPO / source).exists(), f"Containerfile line {instruction['startline'] + 1}: {source}"


def test_the_scripts_pass_shellcheck() -> None:
    shellcheck = ensure_command("shellcheck", "shellcheck")
    scripts = [str(REPO / "scripts" / name) for name in ("build_container.sh", "container_smoke.sh")]
    done = subprocess.run([shellcheck, *scripts], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert (REPO / "scripts" / "build_container.sh").stat().st_mode & 0o111


# ---------------------------------------------------------------- compose


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_needs_no_profiles_and_no_env_file(name: str) -> None:
    for service, spec in load(name)["services"].items():
        assert "profiles" not in spec, f"{name}: service {service} uses profiles (podman-compose ignores them)"
        # podman-compose 1.0.3 passes every env_file to podman, which fails on a missing one.
        assert "env_file" not in spec, f"{name}: service {service} needs an env file a fresh clone lacks"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_interpolation_is_understood_by_podman_compose(name: str) -> None:
    text = (REPO / name).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in re.finditer(r"\$\{([^}]*)\}", body):
        # ${NAME}, ${NAME:-default}, ${NAME:?message}; an empty default is passed on as literal text.
        assert re.fullmatch(r"[A-Za-z_]\w*(:?[-?].+)?", match.group(1)), f"{name}: {match.group(0)}"


def test_compose_runs_the_image_behind_loopback_with_the_token_and_healthcheck() -> None:
    butlerd = load("compose.yaml")["services"]["butlerd"]
    assert butlerd["build"]["dockerfile"] == "Containerfile"
    assert butlerd["build"]["args"]["PYTHON_IMAGE"].startswith("${PYTHON_IMAGE")
    assert butlerd["environment"]["BUTLERS_TOKEN"] == "${BUTLERS_TOKEN}"
    assert all(port.startswith("127.0.0.1:") for port in butlerd["ports"])
    assert butlerd["healthcheck"]["test"][:3] == ["CMD", "butlerctl", "status"]
    [image_check] = values(stage("runtime"), "HEALTHCHECK")
    assert json.loads(image_check.split("CMD", 1)[1]) == butlerd["healthcheck"]["test"][1:]
    assert "/data" in " ".join(butlerd["volumes"])


def test_external_db_file_adds_postgres_and_points_butlerd_at_it() -> None:
    base, extra = load("compose.yaml"), load("compose.external-db.yaml")
    assert "postgres" not in base["services"]
    butlerd = extra["services"]["butlerd"]
    assert butlerd["environment"]["POSTGRES_HOST"] == "postgres"
    assert butlerd["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in extra["services"]["postgres"]
