"""Run chosen integration modules on both stores.

A module that sets `BACKENDS = ("sqlite", "postgresql")` has each of its tests run once per store: the autouse
`store_url` fixture points `tests.conftest.config()` at a fresh PostgreSQL database of the throwaway cluster
(tests/pg_server.py) for the `postgresql` run. Modules without BACKENDS stay SQLite-only and are not renamed.
`@pytest.mark.backends("postgresql")` runs one test on the stores it names only (a query plan of one of them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import tests.conftest
from crm_core.migrate import upgrade
from crm_core.store import Store
from tests.pg_server import pg_database, pg_server  # noqa: F401  (fixtures)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "BACKENDS", None)
    only = metafunc.definition.get_closest_marker("backends")  # a test about one store's own behaviour
    if only is not None:
        backends = only.args
    if backends and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", list(backends))
    layouts = getattr(metafunc.module, "LAYOUTS", None)  # the Redis layouts a scale-out module runs on
    if layouts and "layout" in metafunc.fixturenames:
        metafunc.parametrize("layout", list(layouts))


@pytest.fixture
def backend() -> str:
    """The store under test: overridden by the BACKENDS parametrization."""
    return "sqlite"


@pytest.fixture
async def store(tmp_path: Path, store_url: str | None) -> AsyncIterator[Store]:
    """A migrated store on the backend under test (SQLite in tmp_path, or the fresh PostgreSQL database)."""
    url = store_url or f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    upgrade(url)
    s = Store.open(url)
    yield s
    await s.close()


@pytest.fixture(autouse=True)
def store_url(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The storage URL `config()` uses for this test: None (SQLite under var_dir) or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return None
    assert backend == "postgresql", backend
    url: str = request.getfixturevalue("pg_database")
    monkeypatch.setattr(tests.conftest, "DEFAULT_STORAGE_URL", url)
    return url


@pytest.fixture
async def crm(tmp_path, start_daemon):  # type: ignore[no-untyped-def]
    """A daemon with two lines (support: anna; sales: vera), and anna, vera and the admin logged in."""
    d = await start_daemon(
        tests.conftest.settings_from(
            tmp_path,
            tests.conftest.config(
                tmp_path, [tests.conftest.line("support", ["anna"]), tests.conftest.line("sales", ["vera"])]
            ),
        )
    )
    return d, await d.operator("anna"), await d.operator("vera"), await d.operator("admin")
