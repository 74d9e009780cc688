"""supervisord.conf runs what the README says: web, router and connectors programs, each an `openlines run` of
its role on the shared config, web processes sharing the port."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from router.app.cli import ROLES

REPO = Path(__file__).resolve().parents[2]


def programs() -> dict[str, configparser.SectionProxy]:
    conf = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    conf.read(REPO / "supervisord.conf")
    return {name.split(":", 1)[1]: conf[name] for name in conf.sections() if name.startswith("program:")}


def test_one_program_per_role_each_running_its_role_on_the_shared_config() -> None:
    progs = programs()
    assert set(progs) == {"web", "router", "connectors"}
    for name, section in progs.items():
        argv = shlex.split(section["command"].replace("%(here)s", str(REPO)))
        assert argv[0] == f"{REPO}/.venv/bin/openlines" and argv[1] == "run"
        role = argv[argv.index("--role") + 1]
        assert role == name and role in ROLES
        assert Path(argv[argv.index("--config") + 1]) == REPO / "config" / "openlines.yaml"
        assert section["stopsignal"] == "TERM"


def test_several_web_and_router_processes_one_connectors_process() -> None:
    progs = programs()
    assert int(progs["web"]["numprocs"]) >= 2 and int(progs["router"]["numprocs"]) >= 2
    assert (
        int(progs["connectors"]["numprocs"]) == 1
    )  # two pollers of one bot would steal each other's updates
    assert "%(process_num)" in progs["web"]["process_name"]
    assert 'OPENLINES_HTTP_REUSE_PORT="true"' in progs["web"]["environment"]
