"""The container files say what the project has: no Docker engine runs here, so what can be checked
without building is checked from the files (Dockerfile, .dockerignore, compose.yaml).

- the image's entry command is gunicorn on the project's WSGI module with its gunicorn config;
- it is built in two stages from slim Python 3.11, installs uv.lock, collects static files and runs
  as a non-root user, with a HEALTHCHECK on a route that exists;
- every variable compose.yaml (or the image) gives Atrium is one config/env.py reads;
- the worker serves exactly the queues of config/settings/rq.py; every `manage.py` command exists.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

from config.env import BASE_DIR

ENV_CALL = re.compile(r"\benv\.(?:str|bool|int|float|list|dict|url|path|json|tuple)\(\s*\"([A-Z][A-Z0-9_]*)\"")
DATASTORES = {"postgres", "redis"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in (BASE_DIR / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        joined.append(pending)
        pending = ""
    return [(word.upper(), rest.strip()) for word, _, rest in (line.strip().partition(" ") for line in joined)]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for name, args in instructions():
        if name == "FROM":
            found.append([])
        if found:
            found[-1].append((name, args))
    return found


def runtime() -> list[tuple[str, str]]:
    return stages()[-1]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((BASE_DIR / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def app_services() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose()["services"].items() if name not in DATASTORES}


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def config_env_names() -> set[str]:
    return set(ENV_CALL.findall((BASE_DIR / "config" / "env.py").read_text(encoding="utf-8")))


def test_the_env_py_parser_finds_the_settings():
    names = config_env_names()
    assert {"DJANGO_DEBUG", "DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "JWT_KEYS_DIR"} <= names
    assert len(names) > 30


def test_the_image_is_built_in_two_stages_from_slim_python_3_11():
    all_stages = stages()
    assert len(all_stages) >= 2
    args = dict(arg.split("=", 1) for name, arg in instructions() if name == "ARG" and "=" in arg)
    for stage in all_stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image), image
    assert all_stages[0][0][1].split()[-2:] == ["AS", "builder"]


def test_the_builder_installs_the_lock_runtime_only_and_collects_static_files():
    builder = " ".join(args for _, args in stages()[0])
    assert "uv.lock" in builder
    assert "scripts/ci/install.sh run " in builder
    assert "manage.py collectstatic --noinput" in builder
    install = (BASE_DIR / "scripts" / "ci" / "install.sh").read_text(encoding="utf-8")
    assert "sync --frozen" in install
    assert "sync_args=(--no-dev)" in install


def test_the_runtime_runs_as_a_user_that_is_not_root():
    users = [args for name, args in runtime() if name == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0", ""}
    assert any(name == "RUN" and "useradd" in args and args.split()[-1] == user for name, args in runtime())


def test_the_entry_command_is_gunicorn_on_the_projects_wsgi_module_and_config():
    commands = [json.loads(args) for name, args in runtime() if name == "CMD"]
    assert len(commands) == 1
    command = commands[0]
    assert command[0] == "gunicorn"
    module = command[1].partition(":")[0]
    assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file()
    config = command[command.index("-c") + 1]
    assert (BASE_DIR / config).is_file()
    assert 'wsgi_app = "config.wsgi:application"' in (BASE_DIR / config).read_text(encoding="utf-8")
    web = argv(compose()["services"]["web"]["command"])
    assert web[:4] == command[:4]


def test_the_runtime_copies_only_paths_the_checkout_has():
    for name, args in runtime():
        if name == "COPY" and args.startswith("--from=builder /src/"):
            for source in args.split()[1:-1]:
                relative = source.removeprefix("/src/")
                assert relative == "var/static" or (BASE_DIR / relative).exists(), source


def test_the_healthcheck_probes_healthz_which_is_a_route():
    checks = [args for name, args in runtime() if name == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "http://127.0.0.1:8000/healthz" in checks[0]
    assert "--bind" in json.loads(next(args for name, args in runtime() if name == "CMD"))
    assert resolve("/healthz").url_name == "healthz"


def test_dockerignore_keeps_environments_version_control_and_local_state_out():
    lines = {line.strip() for line in (BASE_DIR / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    assert {".venv", ".venv-run", ".venv-uv", ".git", "var", ".env"} <= lines


def test_every_variable_the_containers_give_atrium_is_one_config_env_reads():
    names = config_env_names()
    for service, spec in app_services().items():
        given = set(spec["environment"])
        assert given, service
        assert given - names == set(), service
    image_env = " ".join(args for name, args in runtime() if name == "ENV")
    ours = {name for name in re.findall(r"\b([A-Z][A-Z0-9_]*)=", image_env) if name.startswith(("ATRIUM_", "DJANGO_"))}
    assert ours - {"DJANGO_SETTINGS_MODULE"} <= names


def test_compose_runs_web_worker_one_cron_and_postgresql_15_with_redis_7():
    services = compose()["services"]
    assert {"web", "worker", "cron", "migrate", "postgres", "redis"} <= set(services)
    assert re.fullmatch(r"postgres:15(\.\d+)?(-\w+)?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7(\.\d+)*(-\w+)?", services["redis"]["image"])
    assert argv(services["cron"]["command"])[-2:] == ["manage.py", "rqcron"]
    assert services["cron"].get("deploy", {}).get("replicas", 1) == 1


@pytest.mark.parametrize("service", ["web", "worker", "cron"])
def test_serving_processes_connect_as_the_web_role_and_migrate_as_the_operator(service):
    services = app_services()
    serving = urlsplit(services[service]["environment"]["DATABASE_URL"]).username
    operator = urlsplit(services["migrate"]["environment"]["DATABASE_URL"]).username
    assert serving == f"{operator}_web"
    assert "manage.py migrate" in " ".join(argv(services["migrate"]["command"]))


def test_the_worker_serves_exactly_the_configured_queues_with_the_scheduler():
    command = argv(compose()["services"]["worker"]["command"])
    after = command[command.index("rqworker") + 1 :]
    assert "--with-scheduler" in after
    queues = [word for word in after if not word.startswith("-")]
    assert sorted(queues) == sorted(settings.RQ_QUEUES)
    assert len(queues) == len(set(queues))


def test_every_manage_py_command_in_the_container_files_exists():
    text = (BASE_DIR / "Dockerfile").read_text(encoding="utf-8")
    text += "\n".join(" ".join(argv(spec["command"])) for spec in app_services().values() if "command" in spec)
    used = set(re.findall(r"manage\.py (\w+)", text))
    assert {"collectstatic", "migrate", "rqworker", "rqcron", "jwt_keys", "seed_rbac"} <= used
    assert used - set(get_commands()) == set()
