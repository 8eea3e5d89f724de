"""TG200 reload-enabled / TG201 several-workers: Python sources and every deployment-file format."""

from __future__ import annotations

import pytest

from lint_rules.config import Config
from lint_rules.model import Finding
from lint_rules.rules.deployment import DeploymentFamily, ReloadEnabled, SeveralWorkers

from ._drive_r2 import lint as drive

FAMILY = (DeploymentFamily(),)


def lint(files: dict[str, str], config: Config | None = None) -> list[Finding]:
    return drive(files, config, FAMILY)


def found(files: dict[str, str], config: Config | None = None) -> list[tuple[str, str, int]]:
    """(path, code, line) of every finding."""
    return [(f.path, f.code, f.line) for f in lint(files, config)]


def token(files: dict[str, str], f: Finding) -> str:
    """The text a finding spans."""
    lines = files[f.path].split("\n")
    if f.line == f.end_line:
        return lines[f.line - 1][f.column - 1 : f.end_column - 1]
    first = lines[f.line - 1][f.column - 1 :]
    return (
        first
        + "\n"
        + "\n".join([*lines[f.line : f.end_line - 1], lines[f.end_line - 1][: f.end_column - 1]])
    )


@pytest.mark.parametrize("rule", [ReloadEnabled, SeveralWorkers])
def test_rule_examples(rule: type) -> None:
    for source in (*rule.valid, rule.instead):
        assert [f for f in lint({"example.py": source}) if f.code == rule.code] == [], source
    for source in (*rule.invalid, rule.example):
        assert [f for f in lint({"example.py": source}) if f.code == rule.code], source


# --- Python -----------------------------------------------------------------------------------


def test_uvicorn_run_aliases_and_exact_position() -> None:
    src = (
        "import uvicorn as u\n"
        "from uvicorn import run as serve\n"
        "from uvicorn.main import run\n"
        "serve('app:app', reload=True)\n"
        "u.run('app:app', workers=3)\n"
        "run('app:app', workers=2, reload=False)\n"
    )
    findings = lint({"main.py": src})
    assert [(f.code, f.line, f.column, f.end_column) for f in findings] == [
        ("TG200", 4, 18, 29),
        ("TG201", 5, 18, 27),
        ("TG201", 6, 16, 25),
    ]
    assert "uvicorn runs 3 worker processes (`workers=3`)" in findings[1].message
    assert "one process per Telegram account" in findings[1].message


def test_lookalikes_are_not_servers() -> None:
    src = (
        "from myproject.server import run\n"
        "import uvicorn\n"
        "def serve(app, reload=False, workers=1):\n    pass\n"
        "run('app', reload=True, workers=4)\n"
        "serve('app', reload=True, workers=4)\n"
        "uvicorn.run('app:app', reload=False, workers=1)\n"
        "uvicorn.run('app:app', workers=None, reload=None)\n"
        "uvicorn.run('app:app', reload_dirs=['src'], reload_includes=['*.py'])\n"
    )
    assert found({"main.py": src}) == []


def test_local_shadowing_uvicorn() -> None:
    src = "import uvicorn\ndef main(uvicorn):\n    uvicorn.run('app', reload=True)\n"
    assert found({"main.py": src}) == []


def test_config_and_server() -> None:
    src = (
        "import uvicorn\n"
        "config = uvicorn.Config('app:app', workers=4)\n"
        "server = uvicorn.Server(config)\n"
        "cfg = uvicorn.Config('app:app')\n"
        "cfg.reload = True\n"
        "from uvicorn.config import Config\n"
        "c: Config = Config('app:app')\n"
        "c.workers = 1\n"
    )
    assert found({"main.py": src}) == [("main.py", "TG201", 2), ("main.py", "TG200", 5)]


def test_non_literal_values() -> None:
    src = (
        "import os, uvicorn, multiprocessing\n"
        "uvicorn.run('a:app', workers=int(os.environ['WORKERS']))\n"
        "uvicorn.run('a:app', workers=int(os.getenv('WORKERS', '1')))\n"
        "uvicorn.run('a:app', workers=int(os.getenv('WORKERS', '4')))\n"
        "uvicorn.run('a:app', workers=multiprocessing.cpu_count())\n"
        "uvicorn.run('a:app', reload=os.getenv('DEV') == '1')\n"
        "uvicorn.run('a:app', reload='false' == 'true')\n"
        "N = 2\n"
        "uvicorn.run('a:app', workers=N - 1)\n"
        "uvicorn.run('a:app', workers=N * 2)\n"
    )
    findings = lint({"main.py": src})
    assert [(f.code, f.line) for f in findings] == [
        ("TG201", 2),
        ("TG201", 4),
        ("TG201", 5),
        ("TG201", 10),
    ]
    # `os.getenv('DEV')` has the implicit default None: unset, `== '1'` is False (line 6).
    assert "cannot be verified statically: pin it to 1" in findings[0].message
    assert "int(os.environ['WORKERS'])" in findings[0].message
    assert "per CPU core" in findings[2].message


def test_constant_imported_from_another_module() -> None:
    files = {
        "app/__init__.py": "",
        "app/settings.py": "WORKERS = 4\nRELOAD = False\nONE = 1\n",
        "app/main.py": (
            "import uvicorn\n"
            "from app.settings import WORKERS, RELOAD, ONE\n"
            "from . import settings\n"
            "uvicorn.run('app.main:app', workers=WORKERS, reload=RELOAD)\n"
            "uvicorn.run('app.main:app', workers=ONE)\n"
            "uvicorn.run('app.main:app', workers=settings.WORKERS)\n"
        ),
    }
    assert found(files) == [("app/main.py", "TG201", 4), ("app/main.py", "TG201", 6)]
    # The constant's module missing from the tree: the value cannot be verified.
    del files["app/settings.py"]
    messages = [f.message for f in lint(files)]
    assert len(messages) == 4 and all("cannot be verified" in m for m in messages)


def test_subprocess_argv() -> None:
    src = (
        "import subprocess, sys, os, asyncio, shlex\n"
        "subprocess.run(['uvicorn', 'app:app', '--workers', '4'])\n"
        "subprocess.Popen([sys.executable, '-m', 'uvicorn', 'app:app', '--reload'])\n"
        "subprocess.check_call(args=['gunicorn', '-w', '2', 'app:app'])\n"
        "subprocess.call('poetry run gunicorn --workers=3 app:app', shell=True)\n"
        "subprocess.run(shlex.split('hypercorn -w 2 app:app'))\n"
        "os.execvp('fastapi', ['fastapi', 'run', '--workers', '2'])\n"
        "CMD = ['uvicorn', 'app:app', '--reload']\n"
        "async def main():\n"
        "    await asyncio.create_subprocess_exec(*CMD)\n"
        "os.system('cd /srv && exec uvicorn app:app --reload')\n"
        "subprocess.run(['uvicorn', 'app:app', '--workers', '1'])\n"
        "subprocess.run(['gunicorn', '-k', 'uvicorn.workers.UvicornWorker', 'app:app'])\n"
        "subprocess.run(['fastapi', 'dev', '--no-reload', 'main.py'])\n"
        "subprocess.run(['python', 'manage.py', '--workers', '4'])\n"
    )
    findings = lint({"run.py": src})
    assert [(f.code, f.line) for f in findings] == [
        ("TG201", 2),
        ("TG200", 3),
        ("TG201", 4),
        ("TG201", 5),
        ("TG201", 6),
        ("TG201", 7),
        ("TG200", 10),
        ("TG200", 11),
    ]
    # The finding spans the option and its value elements.
    assert (findings[0].column, findings[0].end_column) == (39, 55)


def test_subprocess_env_and_os_environ() -> None:
    src = (
        "import subprocess, os\n"
        "subprocess.run(['uvicorn', 'a:app'], env={**os.environ, 'WEB_CONCURRENCY': '3'})\n"
        "subprocess.run(['uvicorn', 'a:app'], env=dict(os.environ, UVICORN_RELOAD='true'))\n"
        "os.environ['UVICORN_WORKERS'] = '2'\n"
        "os.environ.setdefault('WEB_CONCURRENCY', '4')\n"
        "os.environ.update(GUNICORN_CMD_ARGS='--reload -w 1')\n"
        "os.environ['WEB_CONCURRENCY'] = '1'\n"
        "os.environ['UVICORN_RELOAD'] = 'no'\n"
        "os.environ['OTHER'] = '4'\n"
    )
    assert [(f.code, f.line) for f in lint({"run.py": src})] == [
        ("TG201", 2),
        ("TG200", 3),
        ("TG201", 4),
        ("TG201", 5),
        ("TG200", 6),
    ]


def test_gunicorn_config_files() -> None:
    conf = (
        "import multiprocessing\n"
        "bind = '0.0.0.0:8000'\n"
        "workers = multiprocessing.cpu_count() * 2 + 1\n"
        "reload = True\n"
    )
    assert found({"gunicorn.conf.py": conf}) == [
        ("gunicorn.conf.py", "TG201", 3),
        ("gunicorn.conf.py", "TG200", 4),
    ]
    assert found({"deploy/gunicorn_conf.py": "workers = 1\nreload = False\n"}) == []
    # Any other name counts only when a command names it with -c.
    settings = "workers = 4\n"
    assert found({"conf/prod.py": settings}) == []
    files = {
        "conf/prod.py": settings,
        "Dockerfile": 'FROM python\nCMD ["gunicorn", "-c", "/srv/conf/prod.py", "app:app"]\n',
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line) for f in findings] == [("conf/prod.py", "TG201", 1)]
    assert "gunicorn config /srv/conf/prod.py" in findings[0].message
    files = {
        "app/__init__.py": "",
        "app/gconf.py": "workers = 3\n",
        "run.py": "import subprocess\nsubprocess.run(['gunicorn', '--config=python:app.gconf', 'app:app'])\n",
    }
    assert found(files) == [("app/gconf.py", "TG201", 1)]


def test_hypercorn_config() -> None:
    src = (
        "from hypercorn.config import Config\n"
        "import hypercorn.config\n"
        "config = Config()\n"
        "config.workers = 2\n"
        "config.use_reloader = True\n"
        "other = hypercorn.config.Config.from_mapping({'workers': 4})\n"
        "ok = Config.from_mapping(workers=1, bind=['0.0.0.0:80'])\n"
        "loaded = Config.from_toml('hypercorn.toml')\n"
        "loaded.workers = 3\n"
        "class Thing:\n    workers = 1\n"
        "thing = Thing()\n"
        "thing.workers = 8\n"
    )
    assert found({"serve.py": src}) == [
        ("serve.py", "TG201", 4),
        ("serve.py", "TG200", 5),
        ("serve.py", "TG201", 6),
        ("serve.py", "TG201", 9),
    ]
    files = {
        "hyper_conf.py": "workers = 2\nuse_reloader = True\nreload = True\n",
        "Procfile": "web: hypercorn -c file:hyper_conf.py app:app\n",
    }
    assert found(files) == [("hyper_conf.py", "TG201", 1), ("hyper_conf.py", "TG200", 2)]


# --- deployment files -------------------------------------------------------------------------


def test_dockerfile_forms() -> None:
    files = {
        "Dockerfile": (
            "FROM python:3.11\n"  # 1
            "ENV WEB_CONCURRENCY=4 OTHER=1\n"  # 2
            "ENV UVICORN_RELOAD true\n"  # 3
            "RUN --mount=type=cache,target=/root/.cache pip install .\n"  # 4
            'CMD ["uvicorn", "app:app", \\\n'  # 5
            '     "--workers", "4"]\n'  # 6
            "FROM python:3.11 AS final\n"  # 7
            'ENTRYPOINT ["gunicorn"]\n'  # 8
            'CMD ["-w", "2", "app:app"]\n'  # 9
        )
    }
    findings = lint(files)
    assert [(f.code, f.line, token(files, f)) for f in findings] == [
        ("TG201", 2, "WEB_CONCURRENCY=4"),
        ("TG200", 3, "UVICORN_RELOAD true"),
        ("TG201", 6, '"--workers", "4"'),
        ("TG201", 9, '"-w", "2"'),
    ]


def test_dockerfile_shell_form_continuation_and_comments() -> None:
    files = {
        "docker/web.Dockerfile": (
            "FROM x\n"
            "# a comment mentioning uvicorn --reload\n"
            "CMD cd /srv && \\\n"
            "  # a comment inside the continuation\n"
            "  exec uvicorn app:app \\\n"
            "  --reload\n"
            "RUN <<EOF\n"
            "pip install .\n"
            "gunicorn -w 3 app:app\n"
            "EOF\n"
            "CMD uvicorn app:app --workers 1\n"
        ),
        "Dockerfile.prod": "FROM x\nCMD gunicorn -w4 app:app\n",
        "Containerfile": "FROM x\nCMD fastapi run --workers ${W:-2}\n",
        "Dockerfile.dev": "FROM x\nCMD gunicorn app:app\n",
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line, token(files, f)) for f in findings] == [
        ("Containerfile", "TG201", 2, "--workers ${W:-2}"),
        ("Dockerfile.prod", "TG201", 2, "-w4"),
        ("docker/web.Dockerfile", "TG200", 6, "--reload"),
        ("docker/web.Dockerfile", "TG201", 9, "-w 3"),
    ]


def test_dockerfile_escape_directive() -> None:
    files = {"Dockerfile": "# escape=`\nFROM x\nCMD uvicorn app:app `\n    --workers 2\n"}
    assert found(files) == [("Dockerfile", "TG201", 4)]


def test_procfile() -> None:
    files = {
        "Procfile": (
            "web: uvicorn app:app --host 0.0.0.0 --port $PORT --workers 4\n"
            "worker: python -m gunicorn -w 1 app:app\n"
            "dev: fastapi dev main.py\n"
            "ok: fastapi dev --no-reload main.py\n"
            "clock: WEB_CONCURRENCY=2 gunicorn app:app\n"
        )
    }
    findings = lint(files)
    assert [(f.code, f.line, token(files, f)) for f in findings] == [
        ("TG201", 1, "--workers 4"),
        ("TG200", 3, "dev"),
        ("TG201", 5, "WEB_CONCURRENCY=2"),
    ]


COMPOSE = """\
version: "3.8"
x-common: &common
  restart: always
services:
  web:
    <<: *common
    image: relay  # uvicorn --reload in a comment
    command: uvicorn app:app --host 0.0.0.0
      --workers 4
    environment:
      WEB_CONCURRENCY: 4
      UVICORN_RELOAD: "false"
  list:
    command: ["gunicorn", "-w", '2', "app:app"]
    environment:
      - WEB_CONCURRENCY=1
      - "UVICORN_WORKERS=2"
  block:
    entrypoint:
    - uvicorn
    - app:app
    command:
      - --reload
  folded:
    command: >
      sh -c "alembic upgrade head &&
      uvicorn app:app --reload"
    environment: [A=1, "UVICORN_RELOAD=yes"]
  fine:
    command: uvicorn app:app --workers 1
    environment:
      GUNICORN_CMD_ARGS: "--bind 0.0.0.0 --workers 3"
"""


def test_compose() -> None:
    files = {"docker-compose.yml": COMPOSE}
    findings = lint(files)
    assert [(f.code, f.line, token(files, f)) for f in findings] == [
        ("TG201", 9, "--workers 4"),
        ("TG201", 11, "WEB_CONCURRENCY: 4"),
        ("TG201", 14, "\"-w\", '2'"),
        ("TG201", 17, '"UVICORN_WORKERS=2"'),
        ("TG200", 23, "--reload"),
        ("TG200", 27, "--reload"),
        ("TG200", 28, '"UVICORN_RELOAD=yes"'),
        ("TG201", 32, "--workers 3"),
    ]
    assert "GUNICORN_CMD_ARGS --workers 3" in findings[-1].message


@pytest.mark.parametrize(
    "name",
    [
        "compose.yaml",
        "docker-compose.prod.yml",
        "compose.override.yml",
        "deploy/docker-compose.yaml",
    ],
)
def test_compose_file_names(name: str) -> None:
    files = {name: "services:\n  web:\n    command: uvicorn app:app --reload\n"}
    assert found(files) == [(name, "TG200", 3)]


def test_other_yaml_is_not_scanned_without_a_glob() -> None:
    k8s = (
        "kind: Deployment\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: relay\n"
        "          command: [uvicorn]\n"
        "          args:\n"
        "            - app:app\n"
        "            - --workers\n"
        '            - "2"\n'
        "          env:\n"
        "            - name: WEB_CONCURRENCY\n"
        '              value: "3"\n'
    )
    assert found({"k8s/relay.yaml": k8s}) == []
    config = Config(deployment_globs=("k8s/*.yaml",))
    assert found({"k8s/relay.yaml": k8s}, config) == [
        ("k8s/relay.yaml", "TG201", 10),
        ("k8s/relay.yaml", "TG201", 13),
    ]


def test_shell_scripts() -> None:
    files = {
        "scripts/start.sh": (
            "#!/bin/sh\n"
            "set -e\n"
            "W=${WORKERS:-3}\n"
            "alembic upgrade head && exec poetry run uvicorn app:app \\\n"
            '    --workers "$W"\n'
            "uv run --with x gunicorn --workers $(nproc) app:app\n"
            "env UVICORN_RELOAD=1 uvicorn app:app\n"
            'bash -lc "cd /srv; hypercorn --reload app:app"\n'
            "cat <<EOF > notes.txt\n"
            "uvicorn --reload is not a command here\n"
            "EOF\n"
            "export WEB_CONCURRENCY=1\n"
            "uvicorn app:app --workers $UNSET_VAR\n"
            "echo uvicorn --reload\n"
        ),
        "bin/serve": "#!/usr/bin/env bash\ngunicorn --reload app:app\n",
        "bin/notes": "uvicorn --reload\n",
        "LICENSE": "#!/bin/sh\nuvicorn --reload\n",
        "run.bash": "pipenv run python -m uvicorn app:app --reload\n",
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line, token(files, f)) for f in findings] == [
        ("bin/serve", "TG200", 2, "--reload"),
        ("run.bash", "TG200", 1, "--reload"),
        ("scripts/start.sh", "TG201", 5, '--workers "$W"'),
        ("scripts/start.sh", "TG201", 6, "--workers $(nproc)"),
        ("scripts/start.sh", "TG200", 7, "UVICORN_RELOAD=1"),
        ("scripts/start.sh", "TG200", 8, "--reload"),
        ("scripts/start.sh", "TG201", 13, "--workers $UNSET_VAR"),
    ]
    by_line = {f.line: f.message for f in findings if f.path == "scripts/start.sh"}
    assert "3 worker processes" in by_line[5]
    assert "cannot be verified" in by_line[13]


def test_makefile() -> None:
    files = {
        "Makefile": (
            "W := 4\n"
            "APP = app:app\n"
            "export UVICORN_RELOAD = 1\n"
            "run:\n"
            "\t@uvicorn $(APP) --workers $(W)\n"
            "dev:\n"
            "\tcd src && uvicorn app:app \\\n"
            "\t  --reload\n"
            "ok:\n"
            "\t-uvicorn $(APP) --workers 1\n"
        ),
        "build/rules.mk": "serve:\n\tgunicorn -w $$WORKERS app:app\n",
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line, token(files, f)) for f in findings] == [
        ("Makefile", "TG200", 3, "UVICORN_RELOAD = 1"),
        ("Makefile", "TG201", 5, "--workers $(W)"),
        ("Makefile", "TG200", 8, "--reload"),
        ("build/rules.mk", "TG201", 2, "-w $$WORKERS"),
    ]


def test_systemd_unit() -> None:
    files = {
        "deploy/relay.service": (
            "[Unit]\nDescription=relay\n\n[Service]\n"
            'Environment=WEB_CONCURRENCY=2 "UVICORN_RELOAD=no"\n'
            "ExecStartPre=/opt/venv/bin/alembic upgrade head\n"
            "ExecStart=-/opt/venv/bin/uvicorn app:app \\\n"
            "    --workers 3\n"
        )
    }
    findings = lint(files)
    assert [(f.code, f.line, token(files, f)) for f in findings] == [
        ("TG201", 5, "WEB_CONCURRENCY=2"),
        ("TG201", 8, "--workers 3"),
    ]


def test_configured_glob_generic_file() -> None:
    files = {"deploy/circus.conf": "[watcher:relay]\ncmd=/srv/venv/bin/gunicorn -w 4 app:app\n"}
    assert found(files) == []
    assert found(files, Config(deployment_globs=("deploy/*.conf",))) == [
        ("deploy/circus.conf", "TG201", 2)
    ]


def test_clean_deployment_files() -> None:
    files = {
        "Dockerfile": 'FROM x\nENV WEB_CONCURRENCY=1\nCMD ["uvicorn", "app:app", "--workers", "1"]\n',
        "Procfile": "web: gunicorn -k uvicorn.workers.UvicornWorker app:app\n",
        "docker-compose.yml": "services:\n  web:\n    command: [uvicorn, app:app, --reload-dir, src]\n",
        "start.sh": "#!/bin/sh\nexec fastapi run main.py\n",
        "Makefile": "run:\n\tuvicorn app:app --workers=1\n",
        "relay.service": "[Service]\nExecStart=/usr/bin/hypercorn app:app\n",
    }
    assert found(files) == []


def test_bad_input_never_raises() -> None:
    files = {
        "Dockerfile": 'FROM x\nCMD ["uvicorn", \nRUN "unterminated\nENV\nCMD\n',
        "docker-compose.yml": "services: [\n  web: {command: 'x\n\t- ]]]\n: : :\n",
        "start.sh": "#!/bin/sh\nuvicorn 'unterminated --reload\n$(( ${ \\\n",
        "Makefile": "\t\\\n",
        "relay.service": "ExecStart=\\\n",
        "Procfile": ":\nweb:\n",
    }
    lint(files)  # no exception


COMMANDS = [
    ("exec uvicorn app:app --reload", "TG200"),
    ("sudo -u app uvicorn app:app --workers 2", "TG201"),
    ("gosu app gunicorn -w 2 app:app", "TG201"),
    ("su-exec app:app gunicorn --workers=2 app:app", "TG201"),
    ("tini -- uvicorn app:app --reload", "TG200"),
    ("uvx uvicorn app:app --reload", "TG200"),
    ("pipx run uvicorn app:app --reload", "TG200"),
    ("pdm run python -m uvicorn app:app --reload", "TG200"),
    ("uv run --python 3.11 uvicorn app:app --reload", "TG200"),
    ("env -i PATH=/bin uvicorn app:app --reload", "TG200"),
    ("env -u FOO WEB_CONCURRENCY=3 gunicorn app:app", "TG201"),
    ("nohup uvicorn app:app --workers 2 &", "TG201"),
    ("python3.11 -u -X dev -m uvicorn app:app --reload", "TG200"),
    ("/usr/local/bin/python -m gunicorn -w 2 app:app", "TG201"),
    ("python -m hypercorn --workers 3 app:app", "TG201"),
    ("python -m fastapi dev main.py", "TG200"),
    ("fastapi run --reload main.py", "TG200"),
    ("GUNICORN_CMD_ARGS='-w 4' gunicorn app:app", "TG201"),
    ("UVICORN_RELOAD=$DEV uvicorn app:app", "TG200"),
    ('if [ -n "$X" ]; then exec uvicorn app:app --reload; fi', "TG200"),
    ("time uvicorn app:app --reload", "TG200"),
    ("ddtrace-run gunicorn -w 2 app:app", "TG201"),
    ("timeout 10 uvicorn app:app --reload", "TG200"),
    ("poetry install && poetry run uvicorn app:app --reload", "TG200"),
    ("hypercorn --reload app:app", "TG200"),
    ("gunicorn --workers $(( $(nproc) * 2 + 1 )) app:app", "TG201"),
    ("uvicorn app:app --workers ${WORKERS}", "TG201"),
    ("bash -c 'uvicorn app:app --reload'", "TG200"),
    ('sh -ec "exec gunicorn -w 2 app:app"', "TG201"),
    ("docker run --rm -p 8000:8000 img uvicorn app:app --reload", "TG200"),
    ("docker compose run web gunicorn -w 3 app:app", "TG201"),
    ("docker run -e WEB_CONCURRENCY=4 img", "TG201"),
    ("docker compose up -d --scale relay=3", "TG201"),
    ("docker-compose up --scale relay=1", None),
    ("fastapi run main.py", None),
    ("fastapi dev --no-reload main.py", None),
    ("python manage.py runserver --workers 4", None),
    ("python -c 'import uvicorn' --reload", None),
    ("echo uvicorn --reload", None),
    ("uvicorn app:app --reload-dir src", None),
    ("gunicorn app:app", None),
    ("gunicorn -w1 app:app", None),
    ("hypercorn -w 1 app:app", None),
    ("WEB_CONCURRENCY=1 gunicorn app:app", None),
    ("UVICORN_RELOAD=false uvicorn app:app", None),
    ("uvicorn app:app --workers ${WORKERS:-1}", None),
    ("gunicorn -c gunicorn.conf.py app:app", None),
    ("docker build -t relay .", None),
    ("celery -A app worker --concurrency 4 --reload", None),
]


@pytest.mark.parametrize(("command", "code"), COMMANDS)
def test_command_forms(command: str, code: str | None) -> None:
    files = {"Procfile": f"web: {command}\n"}
    assert [f.code for f in lint(files)] == ([code] if code else [])


def test_wrapper_parameters_use_their_default() -> None:
    src = (
        "import uvicorn\n"
        "def serve(app, reload=False, workers=None):\n"
        "    uvicorn.run(app, reload=reload, workers=workers)\n"
        "def dev(app, reload=True):\n"
        "    uvicorn.run(app, reload=reload)\n"
        "def cli(app, workers):\n"
        "    uvicorn.run(app, workers=workers)\n"
    )
    findings = lint({"main.py": src})
    assert [(f.code, f.line) for f in findings] == [("TG200", 5), ("TG201", 7)]
    assert "cannot be verified" in findings[1].message


def test_gunicorn_custom_application() -> None:
    src = (
        "import multiprocessing\n"  # 1
        "from gunicorn.app.base import BaseApplication\n"  # 2
        "class StandaloneApplication(BaseApplication):\n"  # 3
        "    def __init__(self, app, options=None):\n"  # 4
        "        self.options = options or {}\n"  # 5
        "        self.application = app\n"  # 6
        "        super().__init__()\n"  # 7
        "class Prod(StandaloneApplication):\n"  # 8
        "    pass\n"  # 9
        "options = {'bind': '0.0.0.0:80', 'workers': multiprocessing.cpu_count() * 2 + 1}\n"  # 10
        "StandaloneApplication(object(), options).run()\n"  # 11
        "Prod(object(), {'workers': 1, 'reload': True}).run()\n"  # 12
        "class Other:\n    def __init__(self, app, options):\n        pass\n"  # 13-15
        "Other(object(), {'workers': 4})\n"  # 16
    )
    assert [(f.code, f.line) for f in lint({"serve.py": src})] == [("TG201", 10), ("TG200", 12)]


def test_variables_from_the_same_file() -> None:
    files = {
        "docker-compose.yml": (
            "services:\n"
            "  web:\n"
            '    command: ["sh", "-c", "uvicorn app:app --workers $$W"]\n'
            "    environment:\n"
            "      W: 3\n"
            "  ok:\n"
            "    command: sh -c 'uvicorn app:app --workers $$W'\n"
            "    environment:\n"
            "      - W=1\n"
        ),
        "relay.service": "[Service]\nEnvironment=W=4\nExecStart=/usr/bin/uvicorn app:app --workers ${W}\n",
        "Dockerfile": (
            "FROM x\nARG WORKERS=2\nENV WEB_CONCURRENCY=$WORKERS\n"
            'CMD ["sh", "-c", "gunicorn -w $WEB_CONCURRENCY app:app"]\n'
        ),
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line) for f in findings] == [
        ("Dockerfile", "TG201", 3),
        ("Dockerfile", "TG201", 4),
        ("docker-compose.yml", "TG201", 3),
        ("relay.service", "TG201", 3),
    ]
    assert all("cannot be verified" not in f.message for f in findings)


ODD_PYTHON = [
    "import uvicorn\nuvicorn.run(*a, **kw)\nuvicorn.Config()\n",
    "import subprocess, os\nsubprocess.run()\nsubprocess.Popen(args=None)\nos.execl()\nos.execv('x')\n",
    "import subprocess\nsubprocess.run([*x, 'uvicorn', '--reload'][::-1])\nsubprocess.run([f'{a}', b'uvicorn'])\n",
    "import os\nos.environ[k] = v\nos.environ.update()\nos.environ.setdefault()\nos.putenv('WEB_CONCURRENCY')\n",
    "from hypercorn.config import Config\nc = Config()\nc.workers: int = 2\n(c).workers = 3\n",
    "workers = workers\nreload = not reload\nworkers: int\n",
    "import asyncio\nasyncio.create_subprocess_exec()\nasyncio.create_subprocess_shell(cmd)\n",
    "import uvicorn\nuvicorn.run('a', workers=1 // 0, reload=[])\n",
]


@pytest.mark.parametrize("source", ODD_PYTHON)
def test_odd_python_never_raises(source: str) -> None:
    lint({"gunicorn.conf.py": source})
    drive({"m.py": source})


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("watchmedo auto-restart -d . -p '*.py' -- uvicorn app:app", ["TG200"]),
        ("watchmedo auto-restart -R -- gunicorn -w 2 app:app", ["TG200", "TG201"]),
        ("watchfiles 'uvicorn app:app' src", ["TG200"]),
        ("watchfiles 'python worker.py' src", []),
        ("watchmedo shell-command -c 'echo hi' .", []),
        ("nice -n 10 uvicorn app:app --reload", ["TG200"]),
        ("chpst -u app gunicorn -w 3 app:app", ["TG201"]),
    ],
)
def test_reloading_and_option_taking_wrappers(command: str, codes: list[str]) -> None:
    assert [f.code for f in lint({"Procfile": f"web: {command}\n"})] == codes


def test_env_files() -> None:
    files = {
        ".env": "API_ID=1\nexport WEB_CONCURRENCY=4\nUVICORN_RELOAD='true'\n# UVICORN_WORKERS=3\n",
        "deploy/prod.env": "UVICORN_WORKERS=1 # pinned\n",
        ".env.production": 'WEB_CONCURRENCY="2"\n',
        ".env.example": "WEB_CONCURRENCY=4\n",
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line, token(files, f)) for f in findings] == [
        (".env", "TG201", 2, "WEB_CONCURRENCY=4"),
        (".env", "TG200", 3, "UVICORN_RELOAD='true'"),
        (".env.production", "TG201", 1, 'WEB_CONCURRENCY="2"'),
    ]


def test_string_reload_values_follow_each_server() -> None:
    src = (
        "import os, uvicorn\n"
        "uvicorn.run('a:app', reload=os.getenv('RELOAD', 'false'))\n"  # a non-empty str is true
        "uvicorn.run('a:app', reload=os.getenv('RELOAD', 'false') == 'true')\n"
        "uvicorn.run('a:app', reload=bool(os.getenv('RELOAD', '')))\n"
    )
    assert [(f.code, f.line) for f in lint({"m.py": src})] == [("TG200", 2)]
    conf = "reload = 'false'\nworkers = '1'\n"  # gunicorn parses these strings
    assert lint({"gunicorn.conf.py": conf}) == []
    conf = "reload = 'true'\nworkers = '3'\n"
    assert [(f.code, f.line) for f in lint({"gunicorn.conf.py": conf})] == [
        ("TG200", 1),
        ("TG201", 2),
    ]


def test_configured_globs_use_the_exclude_semantics() -> None:
    files = {
        "ops/prod/relay.conf": "command=gunicorn -w 2 app:app\n",
        "ops/k8s/deploy.yml": "spec:\n  containers:\n    - command: [uvicorn, app:app, --reload]\n",
        "ops/notes.txt": "run uvicorn with --workers 4 in prod\n",
    }
    config = Config(deployment_globs=("**/*.conf", "ops/k8s"))
    assert found(files, config) == [
        ("ops/k8s/deploy.yml", "TG200", 3),
        ("ops/prod/relay.conf", "TG201", 1),
    ]


def test_f_string_commands() -> None:
    src = (
        "import subprocess, os\n"
        "n = os.environ['N']\n"
        "subprocess.run(f'uvicorn app:app --workers {n}', shell=True)\n"
        "subprocess.run(['uvicorn', 'app:app', f'--workers={n}'])\n"
        "subprocess.run(f'uvicorn {n} --reload', shell=True)\n"
        "subprocess.run(f'uvicorn {n} --port {n}', shell=True)\n"
        "W = 1\n"
        "subprocess.run(f'gunicorn -w {W} app:app', shell=True)\n"
    )
    findings = lint({"m.py": src})
    assert [(f.code, f.line) for f in findings] == [("TG201", 3), ("TG201", 4), ("TG200", 5)]
    assert "`--workers {...}` cannot be verified" in findings[0].message
    assert "`--workers={...}` cannot be verified" in findings[1].message


def test_replicas() -> None:
    files = {
        "docker-compose.yml": (
            "services:\n  relay:\n    build: .\n    deploy:\n      replicas: 3\n"  # 1-5
            "  one:\n    build: .\n    deploy: {replicas: 1}\n"  # 6-8
            "  old:\n    command: uvicorn app:app\n    scale: 2\n"  # 9-11
            "  redis:\n    image: redis\n    deploy:\n      replicas: 3\n"  # 12-15
        ),
    }
    findings = lint(files)
    assert [(f.code, f.line, token(files, f)) for f in findings] == [
        ("TG201", 5, "replicas: 3"),
        ("TG201", 11, "scale: 2"),
    ]
    assert "3 worker processes" in findings[0].message


def test_kubernetes_replicas_of_our_server_only() -> None:
    files = {
        "k8s/all.yaml": (
            "kind: Deployment\n"  # 1
            "spec:\n"  # 2
            "  replicas: 2\n"  # 3
            "  template:\n"  # 4
            "    spec:\n"  # 5
            "      containers:\n"  # 6
            "        - name: relay\n"  # 7
            '          args: ["uvicorn", "relay.app:app"]\n'  # 8
            "---\n"  # 9
            "kind: StatefulSet\n"  # 10
            "spec:\n"  # 11
            "  replicas: 3\n"  # 12
            "  template:\n"  # 13
            "    spec:\n"  # 14
            "      containers:\n"  # 15
            "        - name: redis\n"  # 16
            "          image: redis:7\n"  # 17
        )
    }
    config = Config(deployment_globs=("k8s/*.yaml",))
    assert found(files, config) == [("k8s/all.yaml", "TG201", 3)]
