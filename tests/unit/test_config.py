"""Config loading: YAML with line numbers, ${VAR} expansion, typed settings, and `openlines check-config`.

Every bad snippet maps to the exact `FILE:LINE: path: message` lines it must produce (the message by substring).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connectors import VALIDATORS
from router.app.cli import main
from router.app.settings import Settings, load_settings
from router.app.yamlconf import ConfigProblem, load_yaml

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "openlines.yaml"

# A valid config; the line numbers below are referred to by the bad cases.
BASE = """\
version: 1
operators:
  - login: anna
    name: Anna
  - login: boris
    name: Boris
lines:
  - id: support
    name: Support
    channels:
      - type: widget
    queue: [anna, boris]
    distribution:
      mode: even
      offer_timeout: 60s
"""
#  1 version       6 name: Boris      11 - type: widget        16 (appended text starts here)
#  3 - login: anna 8 - id: support    12 queue: [anna, boris]
#  4 name: Anna    10 channels:       14 mode / 15 offer_timeout


def _replace(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def load(
    tmp_path: Path, text: str, env: dict[str, str] | None = None
) -> tuple[Settings | None, list[ConfigProblem]]:
    path = tmp_path / "openlines.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env={} if env is None else env, channel_validators=VALIDATORS)


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    settings, problems = load(tmp_path, text, env)
    assert settings is None, "a config with problems must not produce settings"
    return problems


def assert_problems(problems: list[ConfigProblem], file: Path, expected: list[tuple[int, str, str]]) -> None:
    """`expected` is (line, dotted path, message substring), in any order, and nothing else."""
    got = sorted(str(p) for p in problems)
    assert len(got) == len(expected), got
    for line, dotted, message in expected:
        prefix = f"{file}:{line}: {dotted}: "
        assert any(g.startswith(prefix) and message in g[len(prefix) :] for g in got), (prefix, message, got)


def test_base_config_is_valid(tmp_path: Path) -> None:
    settings, problems = load(tmp_path, BASE)
    assert problems == []
    assert settings is not None
    assert [o.login for o in settings.operators] == ["anna", "boris"]
    assert settings.lines[0].channels == [{"type": "widget"}]
    assert settings.lines[0].distribution.offer_timeout == timedelta(seconds=60)
    assert settings.http.port == 8080


BAD = [
    pytest.param(
        "version: 1\nhttp: port: 8080\n",
        [(2, "(top)", "invalid YAML: mapping values are not allowed here")],
        id="yaml-syntax",
    ),
    pytest.param(
        "version: 1\nlines:\n\t- id: x\n",
        [(3, "(top)", "invalid YAML")],
        id="yaml-tab",
    ),
    pytest.param(
        _replace("version: 1", "version: 2"),
        [(1, "version", "Input should be 1")],
        id="wrong-version",
    ),
    pytest.param(
        _replace("version: 1\n", ""),
        [(1, "version", "Field required")],
        id="missing-version",
    ),
    pytest.param(
        _replace("    name: Support\n", "    name: Support\n    queu: [anna]\n"),
        [(10, "lines.0.queu", "Extra inputs are not permitted")],
        id="typo-in-line",
    ),
    pytest.param(
        BASE + "http:\n  prot: 9000\n",
        [(17, "http.prot", "Extra inputs are not permitted")],
        id="typo-in-http",
    ),
    pytest.param(
        BASE + "secret: x\n",
        [(16, "secret", "Extra inputs are not permitted")],
        id="unknown-top-level-field",
    ),
    pytest.param(
        _replace("mode: even", "mode: random"),
        [(14, "lines.0.distribution.mode", "Input should be 'even', 'sequential' or 'all'")],
        id="bad-mode",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: -5"),
        [(15, "lines.0.distribution.offer_timeout", "positive")],
        id="duration-negative-int",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", 'offer_timeout: "-5"'),
        [(15, "lines.0.distribution.offer_timeout", "a duration like 60s")],
        id="duration-negative-string",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: 0"),
        [(15, "lines.0.distribution.offer_timeout", "positive")],
        id="duration-zero",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: 0s"),
        [(15, "lines.0.distribution.offer_timeout", "positive")],
        id="duration-zero-seconds",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: soon"),
        [(15, "lines.0.distribution.offer_timeout", "a duration like 60s")],
        id="duration-garbage",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: 5 parsecs"),
        [(15, "lines.0.distribution.offer_timeout", "a duration like 60s")],
        id="duration-unknown-unit",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: yes"),
        [(15, "lines.0.distribution.offer_timeout", "a duration like 60s")],
        id="duration-bool",
    ),
    pytest.param(
        _replace("offer_timeout: 60s", "offer_timeout: 60s\n      retry_interval: -2m"),
        [(16, "lines.0.distribution.retry_interval", "a duration like 60s")],
        id="retry-interval-negative",
    ),
    pytest.param(
        _replace("[anna, boris]", "[anna, vera]"),
        [(12, "lines.0.queue.1", "unknown operator 'vera'")],
        id="unknown-operator-in-queue",
    ),
    pytest.param(
        _replace("lines:\n", "  - login: anna\n    name: Anna again\nlines:\n"),
        [(7, "operators.2.login", "duplicate login 'anna'")],
        id="duplicate-operator-login",
    ),
    pytest.param(
        BASE + "  - id: support\n    name: Again\n",
        [(16, "lines.1.id", "duplicate id 'support'")],
        id="duplicate-line-id",
    ),
    pytest.param(
        _replace("type: widget", "type: telegramm"),
        [(11, "lines.0.channels.0.type", "unknown channel type 'telegramm'")],
        id="unknown-channel-type",
    ),
    pytest.param(
        _replace("type: widget", "title: no type"),
        [(11, "lines.0.channels.0", "needs a 'type'")],
        id="channel-without-type",
    ),
    pytest.param(
        _replace("      - type: widget\n", "      - type: widget\n        colour: red\n"),
        [(12, "lines.0.channels.0.colour", "Extra inputs are not permitted")],
        id="widget-unknown-field",
    ),
    pytest.param(
        _replace("      - type: widget\n", "      - type: widget\n        token_ttl_days: 0\n"),
        [(12, "lines.0.channels.0.token_ttl_days", "greater than or equal to 1")],
        id="widget-bad-value",
    ),
    pytest.param(
        _replace("      - type: widget\n", "      - type: widget\n      - type: widget\n"),
        [(12, "lines.0.channels.1", "widget account 'support' is bound to two lines")],
        id="widget-account-twice",
    ),
    pytest.param(
        _replace("name: Anna", "name: ${ANNA_NAME}"),
        [(4, "operators.0.name", "environment variable ANNA_NAME is not set")],
        id="unset-variable",
    ),
    pytest.param(
        _replace("    name: Anna\n", "    name: Anna\n    name: Anna again\n"),
        [(5, "operators.0.name", "duplicate key")],
        id="duplicate-yaml-key",
    ),
    pytest.param(
        BASE + "http:\n  port: 70000\n",
        [(17, "http.port", "less than or equal to 65535")],
        id="port-out-of-range",
    ),
    pytest.param(
        "- 1\n- 2\n",
        [(1, "(top)", "must be a mapping")],
        id="not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_config_is_reported_with_line_and_path(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str]]
) -> None:
    problems = problems_of(tmp_path, text)
    assert_problems(problems, tmp_path / "openlines.yaml", expected)


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_check_config_prints_the_same_lines_and_exits_2(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "openlines.yaml"
    path.write_text(text, encoding="utf-8")
    # check-config reads the real environment: make sure the variables of the table are unset there
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ANNA_NAME", raising=False)
        mp.delenv("OPENLINES_HTTP_PORT", raising=False)
        code = main(["check-config", str(path)])
    out = capsys.readouterr().out
    assert code == 2
    lines = [ln for ln in out.splitlines() if ln]
    assert len(lines) == len(expected), out
    for line, dotted, message in expected:
        prefix = f"{path}:{line}: {dotted}: "
        assert any(ln.startswith(prefix) and message in ln for ln in lines), (prefix, out)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("60s", 60),
        ("2m", 120),
        ("1.5h", 5400),
        ("90", 90),
        ("1d", 86400),
        ("500ms", 0.5),
        ('"45 s"', 45),
        ("2.5", 2.5),
    ],
)
def test_good_durations(tmp_path: Path, value: str, seconds: float) -> None:
    text = _replace("offer_timeout: 60s", f"offer_timeout: {value}\n      retry_interval: {value}")
    settings, problems = load(tmp_path, text)
    assert problems == []
    assert settings is not None
    dist = settings.lines[0].distribution
    assert dist.offer_timeout == timedelta(seconds=seconds)
    assert dist.retry_interval == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", [".inf", "999999999999d", ".nan"])
def test_absurd_durations_are_problems_not_crashes(tmp_path: Path, value: str) -> None:
    # a duration that does not fit a timedelta must be reported like any other bad value
    problems = problems_of(tmp_path, _replace("offer_timeout: 60s", f"offer_timeout: {value}"))
    assert_problems(problems, tmp_path / "openlines.yaml", [(15, "lines.0.distribution.offer_timeout", "")])


def test_variable_expansion_from_the_given_env(tmp_path: Path) -> None:
    text = (
        _replace("name: Anna", "name: ${ANNA_NAME}")
        + "http:\n  port: ${PORT}\nsecret_key: k-${SECRET}-${SECRET}\n"
    )
    settings, problems = load(
        tmp_path, text, env={"ANNA_NAME": "Anna: the {first}", "PORT": "9091", "SECRET": "s"}
    )
    assert problems == []
    assert settings is not None
    assert settings.operators[0].name == "Anna: the {first}"  # a value is text, never parsed as YAML
    assert settings.http.port == 9091
    assert settings.secret_key == "k-s-s"


def test_variable_default(tmp_path: Path) -> None:
    text = (
        _replace("name: Anna", "name: ${ANNA_NAME:-Anna Default}")
        + "storage:\n  url: ${DB_URL:-sqlite+aiosqlite:///x.db}\nsecret_key: ${EMPTY:-}\n"
    )
    settings, problems = load(tmp_path, text, env={})
    assert problems == []
    assert settings is not None
    assert settings.operators[0].name == "Anna Default"
    assert settings.storage.url == "sqlite+aiosqlite:///x.db"
    assert settings.secret_key == ""
    # a set variable wins over the default, even when it is empty
    settings, problems = load(tmp_path, text, env={"ANNA_NAME": "Set", "DB_URL": ""})
    assert problems == [] and settings is not None
    assert settings.operators[0].name == "Set"
    assert settings.storage.url == ""


def test_unset_variables_are_each_reported_with_their_line(tmp_path: Path) -> None:
    text = _replace("name: Boris", "name: ${BORIS_NAME}", _replace("name: Anna", "name: ${ANNA_NAME}"))
    problems = problems_of(tmp_path, text)
    assert_problems(
        problems,
        tmp_path / "openlines.yaml",
        [(4, "operators.0.name", "ANNA_NAME"), (6, "operators.1.name", "BORIS_NAME")],
    )


def test_load_yaml_does_not_read_os_environ_when_env_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OL_TEST_ONLY_IN_OS", "from-os")
    loaded = load_yaml("a: ${OL_TEST_ONLY_IN_OS}\n", "f.yaml", env={})
    assert [str(p) for p in loaded.problems] == [
        "f.yaml:1: a: environment variable OL_TEST_ONLY_IN_OS is not set (use ${OL_TEST_ONLY_IN_OS:-default})"
    ]
    loaded = load_yaml("a: ${OL_TEST_ONLY_IN_OS}\n", "f.yaml", env=None)
    assert loaded.problems == [] and loaded.data == {"a": "from-os"}


def test_load_yaml_keeps_line_numbers() -> None:
    loaded = load_yaml("a:\n  b:\n    - x\n    - y\n  c: 1\n", "f.yaml", env={})
    assert loaded.data == {"a": {"b": ["x", "y"], "c": 1}}
    assert loaded.line_of(("a", "b", 1)) == 4
    assert loaded.line_of(("a", "c")) == 5
    assert loaded.line_of(("a", "missing", 3)) == 1  # falls back to the nearest known prefix: "a"


def test_http_port_from_env_overrides_the_file(tmp_path: Path) -> None:
    settings, problems = load(
        tmp_path, BASE + "http:\n  host: 0.0.0.0\n  port: 8080\n", env={"OPENLINES_HTTP_PORT": "9123"}
    )
    assert problems == [] and settings is not None
    assert settings.http.port == 9123
    assert settings.http.host == "0.0.0.0"  # the rest of the block is kept
    # also when the file has no http block at all
    settings, problems = load(tmp_path, BASE, env={"OPENLINES_HTTP_PORT": "9124"})
    assert problems == [] and settings is not None
    assert settings.http.port == 9124
    # without the variable the file's port stands
    settings, _ = load(tmp_path, BASE + "http:\n  port: 8081\n", env={})
    assert settings is not None and settings.http.port == 8081


def test_every_scalar_of_the_process_sections_has_an_env_override(tmp_path: Path) -> None:
    env = {
        "OPENLINES_QUEUE_BACKEND": "redis",
        "OPENLINES_QUEUE_URL": "redis://10.0.0.5:6379/0",
        "OPENLINES_QUEUE_PARTITIONS": "32",
        "OPENLINES_QUEUE_LEASE_TIME": "7s",
        "OPENLINES_QUEUE_CLUSTER": "true",
        "OPENLINES_STORAGE_URL": "postgresql+asyncpg://o@db/openlines",
        "OPENLINES_HTTP_REUSE_PORT": "true",
        "OPENLINES_LOG_LEVEL": "debug",
    }
    settings, problems = load(tmp_path, BASE, env=env)
    assert problems == [] and settings is not None
    assert (settings.queue.backend, settings.queue.url, settings.queue.partitions) == (
        "redis",
        "redis://10.0.0.5:6379/0",
        32,
    )
    assert settings.queue.lease_time.total_seconds() == 7 and settings.queue.cluster is True
    assert settings.database_url == "postgresql+asyncpg://o@db/openlines"
    assert settings.http.reuse_port is True and settings.log.level == "debug"


def test_secret_key_from_env_overrides_the_file(tmp_path: Path) -> None:
    settings, problems = load(
        tmp_path, BASE + "secret_key: from-file\n", env={"OPENLINES_SECRET_KEY": "shared"}
    )
    assert problems == [] and settings is not None and settings.secret_key == "shared"
    settings, _ = load(tmp_path, BASE + "secret_key: from-file\n", env={})
    assert settings is not None and settings.secret_key == "from-file"


def test_a_redis_queue_needs_its_url(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, BASE + "queue:\n  backend: redis\n", env={})
    assert [p.message for p in problems] == ["backend redis needs url (e.g. redis://127.0.0.1:6379/0)"]


def test_bad_http_port_from_env_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, BASE + "http:\n  port: 8080\n", env={"OPENLINES_HTTP_PORT": "eighty"})
    assert_problems(problems, tmp_path / "openlines.yaml", [(17, "http.port", "valid integer")])


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    text = (
        _replace(
            "offer_timeout: 60s",
            "offer_timeout: soon",
            _replace("mode: even", "mode: random", _replace("[anna, boris]", "[anna, vera]")),
        )
        + "  - id: support\n    name: Again\n    queue: [nobody]\nextra: 1\n"
    )
    problems = problems_of(tmp_path, text)
    assert_problems(
        problems,
        tmp_path / "openlines.yaml",
        [
            (12, "lines.0.queue.1", "unknown operator 'vera'"),
            (14, "lines.0.distribution.mode", "Input should be"),
            (15, "lines.0.distribution.offer_timeout", "a duration like"),
            (16, "lines.1.id", "duplicate id 'support'"),
            (18, "lines.1.queue.0", "unknown operator 'nobody'"),
            (19, "extra", "Extra inputs are not permitted"),
        ],
    )


def test_unset_variable_does_not_hide_other_problems(tmp_path: Path) -> None:
    # "every problem, not just the first": an unset variable and an unrelated bad field are both reported
    text = _replace("mode: even", "mode: random", _replace("name: Anna", "name: ${ANNA_NAME}"))
    problems = problems_of(tmp_path, text)
    assert_problems(
        problems,
        tmp_path / "openlines.yaml",
        [(4, "operators.0.name", "ANNA_NAME"), (14, "lines.0.distribution.mode", "Input should be")],
    )


def test_duplicate_yaml_key_does_not_hide_other_problems(tmp_path: Path) -> None:
    text = _replace(
        "mode: even", "mode: random", _replace("    name: Anna\n", "    name: Anna\n    name: Anna 2\n")
    )
    problems = problems_of(tmp_path, text)
    assert_problems(
        problems,
        tmp_path / "openlines.yaml",
        [(5, "operators.0.name", "duplicate key"), (15, "lines.0.distribution.mode", "Input should be")],
    )


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    settings, problems = load_settings(tmp_path / "nope.yaml", env={}, channel_validators=VALIDATORS)
    assert settings is None
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'nope.yaml'}:1: (top): cannot read: No such file or directory"
    ]


def test_shipped_config_is_valid(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENLINES_HTTP_PORT", "OPENLINES_SECRET_KEY", "OPENLINES_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["check-config", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"{SHIPPED}: ok (2 lines, 3 operators)"
    settings, problems = load_settings(SHIPPED, env={}, channel_validators=VALIDATORS)
    assert problems == [] and settings is not None
    assert settings.queue.backend == "memory"
    assert {ln.id for ln in settings.lines} == {"support", "sales"}


def test_check_config_on_a_good_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok (1 lines, 2 operators)"


@pytest.mark.parametrize("role", ["web", "router", "connectors"])
def test_run_refuses_the_memory_backend_outside_role_all(
    role: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.app.daemon

    def must_not_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("the daemon must not be built")

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("OPENLINES_HTTP_PORT", raising=False)
    monkeypatch.setattr(router.app.daemon, "Daemon", must_not_start)
    assert main(["run", "--config", "config/openlines.yaml", "--role", role]) == 2
    err = capsys.readouterr().err
    assert "memory" in err and role in err


def test_run_with_a_bad_config_exits_2_and_prints_the_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.app.daemon

    def must_not_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("the daemon must not be built")

    monkeypatch.setattr(router.app.daemon, "Daemon", must_not_start)
    path = tmp_path / "bad.yaml"
    path.write_text(_replace("mode: even", "mode: random"), encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["run", "--config", str(path)])
    assert exc.value.code == 2
    assert f"{path}:14: lines.0.distribution.mode: " in capsys.readouterr().err


def test_quick_answers_are_checked_where_they_are_written(tmp_path: Path) -> None:
    answers = """    quick_answers:
      - title: Greeting
        text: "Hello {customer.name}!"
        shortcut: Hi
      - title: ""
        text: "Bye"
        shortcut: two words
      - title: Hello again
        text: "Hi"
        shortcut: hi
"""
    text = _replace("    queue: [anna, boris]\n", "    queue: [anna, boris]\n" + answers)
    assert_problems(
        problems_of(tmp_path, text),
        tmp_path / "openlines.yaml",
        [
            (17, "lines.0.quick_answers.1.title", "at least 1 character"),
            (19, "lines.0.quick_answers.1.shortcut", "should match pattern"),
            (22, "lines.0.quick_answers.2.shortcut", "duplicate shortcut 'hi'"),
        ],
    )
    good = _replace(
        "    queue: [anna, boris]\n", "    queue: [anna, boris]\n" + answers.split('      - title: ""')[0]
    )
    settings, problems = load(tmp_path, good)
    assert problems == [] and settings is not None
    assert [(q.title, q.shortcut) for q in settings.lines[0].quick_answers] == [("Greeting", "Hi")]
