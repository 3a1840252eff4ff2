"""Tests for core.card_registry and core.import_cards, on SQLite and PostgreSQL.

The PostgreSQL half uses ``CARD_REGISTRY_TEST_PG_URL`` (default
postgresql://postgres@127.0.0.1:5432/test), each test in a fresh schema that
is dropped afterwards. It is skipped when the server cannot be reached,
unless ``REQUIRE_POSTGRES`` is set, in which case it fails instead.
"""

from __future__ import annotations

import csv
import hmac
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, fields
from datetime import date
from hashlib import sha256
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import OperationalError

from core import card_registry, import_cards
from core.card_registry import (
    DEV_SECRET,
    CardRecord,
    CardRegistry,
    CardStatus,
    CardUpsert,
    LookupKind,
    LookupResult,
    RegistryConfigError,
    hash_id_number,
    hash_name,
    registry_secret,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CSV = PROJECT_ROOT / "data" / "registry" / "sample_cards.csv"
PG_URL = os.environ.get("CARD_REGISTRY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_SECRET = "test-secret-for-card-registry"

ZHANG_ID = "11010519491231002X"
ZHANG_NAME = "张三"
LI_ID = "440524188001010014"
LI_NAME = "李四"
# Valid, but not in the sample data.
UNKNOWN_ID = "110105194912310029"

CSV_HEADER = "id_number,name,status,issuing_city,applied_on,produced_on," "activation_deadline,collection_outlet\n"


def _postgres_required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def _closed_port() -> int:
    # Bind then release: nothing listens on the port afterwards.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Backend:
    """Where a test's registries live."""

    name: str
    url: str
    schema: str | None
    sqlite_path: Path | None


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty database: a SQLite file in tmp_path, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "cards.sqlite3"
        yield Backend("sqlite", f"sqlite:///{path}", None, path)
        return

    admin = create_engine(PG_URL, future=True, connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        if _postgres_required():
            pytest.fail(f"REQUIRE_POSTGRES is set but PostgreSQL is unreachable: {exc}")
        pytest.skip("PostgreSQL is not reachable (set REQUIRE_POSTGRES=1 to make this fail)")

    schema = f"card_registry_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Backend("postgresql", PG_URL, schema, None)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


RegistryFactory = Callable[..., CardRegistry]


@pytest.fixture
def make_registry(backend: Backend) -> Iterator[RegistryFactory]:
    """Build registries on the test backend; all are disposed before the schema is dropped."""
    created: list[CardRegistry] = []

    def factory(secret: str = TEST_SECRET) -> CardRegistry:
        registry = CardRegistry(backend.url, secret=secret, schema=backend.schema)
        created.append(registry)
        return registry

    yield factory
    for registry in created:
        registry.dispose()


@pytest.fixture
def registry(make_registry: RegistryFactory) -> CardRegistry:
    """A registry with its table created and empty."""
    fresh = make_registry()
    fresh.create_schema()
    return fresh


@pytest.fixture
def loaded_registry(registry: CardRegistry) -> CardRegistry:
    """A registry holding the sample cards."""
    report = import_cards.import_csv(SAMPLE_CSV, registry)
    assert report.ok, report.errors
    return registry


def _row_count(registry: CardRegistry) -> int:
    with registry.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(registry.cards_table)).scalar_one())


def _sample_rows() -> list[dict[str, str]]:
    with open(SAMPLE_CSV, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# --- schema and configuration ------------------------------------------------


def test_create_schema_is_idempotent(make_registry: RegistryFactory, backend: Backend) -> None:
    registry = make_registry()
    registry.create_schema()
    registry.create_schema()
    inspector = inspect(registry.engine)
    assert "cards" in inspector.get_table_names(schema=backend.schema)
    columns = {column["name"] for column in inspector.get_columns("cards", schema=backend.schema)}
    assert {"id_hash", "name_hash", "status", "issuing_city", "updated_at"} <= columns
    assert not {"id_number", "name"} & columns


def test_constructor_does_not_connect() -> None:
    registry = CardRegistry(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x", secret="s")
    assert registry._engine is None


def test_default_url_is_sqlite_under_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default_path = tmp_path / "var" / "card_registry.sqlite3"
    monkeypatch.setattr(card_registry, "DEFAULT_SQLITE_PATH", default_path)
    monkeypatch.delenv(card_registry.URL_ENV, raising=False)
    registry = CardRegistry(secret=TEST_SECRET)
    assert not default_path.parent.exists()  # nothing happens until first use
    registry.create_schema()
    registry.dispose()
    assert default_path.is_file()


def test_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "from_env.sqlite3"
    monkeypatch.setenv(card_registry.URL_ENV, f"sqlite:///{path}")
    registry = CardRegistry(secret=TEST_SECRET)
    registry.create_schema()
    registry.dispose()
    assert path.is_file()


@pytest.mark.parametrize("url", ["not a url", "postgress://localhost/db", "postgresql://h:port/db"])
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(RegistryConfigError):
        CardRegistry(url, secret="s")


def test_registry_secret_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(card_registry.SECRET_ENV, raising=False)
    assert registry_secret() == (DEV_SECRET, True)
    monkeypatch.setenv(card_registry.SECRET_ENV, "production-secret")
    assert registry_secret() == ("production-secret", False)
    monkeypatch.setenv(card_registry.SECRET_ENV, "  ")
    with pytest.raises(RegistryConfigError):
        registry_secret()
    with pytest.raises(RegistryConfigError):
        CardRegistry("sqlite://")


# --- lookup ------------------------------------------------------------------


def test_sample_covers_every_status() -> None:
    statuses = {row["status"] for row in _sample_rows()}
    assert statuses == {status.value for status in CardStatus}


def test_import_sample_then_lookup_found(loaded_registry: CardRegistry) -> None:
    assert _row_count(loaded_registry) == len(_sample_rows())
    result = loaded_registry.lookup(ZHANG_ID, ZHANG_NAME)
    assert result.kind is LookupKind.FOUND
    card = result.card
    assert card is not None
    assert card.status is CardStatus.ISSUED_NOT_ACTIVATED
    assert card.issuing_city == "北京市"
    assert card.activation_deadline == date(2027, 6, 30)
    assert card.collection_outlet
    assert card.updated_at.tzinfo is not None

    lost = loaded_registry.lookup(LI_ID, LI_NAME)
    assert lost.card is not None
    assert lost.card.status is CardStatus.REPORTED_LOST
    assert lost.card.issuing_city == "汕头市"


def test_every_sample_row_can_be_found(loaded_registry: CardRegistry) -> None:
    for row in _sample_rows():
        result = loaded_registry.lookup(row["id_number"], row["name"])
        assert result.card is not None, row["status"]
        assert result.card.status.value == row["status"]
        assert result.card.issuing_city == row["issuing_city"]


@pytest.mark.parametrize(
    ("id_number", "name"),
    [
        ("11010519491231002x", ZHANG_NAME),  # lower-case x
        ("１１０１０５１９４９１２３１００２Ｘ", ZHANG_NAME),  # full-width
        ("110105 19491231 002X", " 张 三 "),  # spaces in both
        ("110108198806060079", "JOHN  SMITH"),  # case and spacing of a Latin name
    ],
)
def test_lookup_normalises_input(loaded_registry: CardRegistry, id_number: str, name: str) -> None:
    assert loaded_registry.lookup(id_number, name).kind is LookupKind.FOUND


def test_wrong_name_and_unknown_id_are_indistinguishable(
    loaded_registry: CardRegistry,
) -> None:
    wrong_name = loaded_registry.lookup(ZHANG_ID, LI_NAME)
    unknown_id = loaded_registry.lookup(UNKNOWN_ID, ZHANG_NAME)
    invalid_id = loaded_registry.lookup("12345", ZHANG_NAME)
    assert wrong_name == unknown_id == invalid_id == LookupResult(LookupKind.NO_MATCH)
    assert wrong_name.card is None
    assert repr(wrong_name) == repr(unknown_id)


def test_result_never_carries_id_or_name(loaded_registry: CardRegistry) -> None:
    assert {field.name for field in fields(CardRecord)}.isdisjoint({"id", "id_number", "id_hash", "name", "name_hash"})
    shown = repr(loaded_registry.lookup(ZHANG_ID, ZHANG_NAME))
    assert ZHANG_ID not in shown and ZHANG_NAME not in shown


def test_upsert_updates_existing_card(loaded_registry: CardRegistry) -> None:
    before = _row_count(loaded_registry)
    written = loaded_registry.upsert(
        [
            CardUpsert(
                id_number=ZHANG_ID,
                name=ZHANG_NAME,
                status=CardStatus.FULLY_ACTIVE,
                issuing_city="北京市",
                applied_on=date(2025, 3, 10),
                produced_on=date(2025, 4, 2),
            )
        ]
    )
    assert written == 1
    assert _row_count(loaded_registry) == before
    card = loaded_registry.lookup(ZHANG_ID, ZHANG_NAME).card
    assert card is not None
    assert card.status is CardStatus.FULLY_ACTIVE
    assert card.activation_deadline is None


def test_upsert_rejects_invalid_id_before_writing(registry: CardRegistry) -> None:
    good = CardUpsert(ZHANG_ID, ZHANG_NAME, CardStatus.IN_PRODUCTION, "北京市", date(2025, 1, 1))
    bad = CardUpsert(
        "110105194912310021",
        "王五",
        CardStatus.IN_PRODUCTION,
        "北京市",
        date(2025, 1, 1),
    )
    with pytest.raises(ValueError):
        registry.upsert([good, bad])
    assert _row_count(registry) == 0


# --- hashing -------------------------------------------------------------------


def test_stored_values_are_hmacs_not_raw(loaded_registry: CardRegistry) -> None:
    with loaded_registry.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(select(loaded_registry.cards_table))]
    stored = "\n".join(str(value) for row in rows for value in row.values())
    for sample in _sample_rows():
        assert sample["id_number"] not in stored
        assert sample["name"] not in stored
    expected_id_hash = hmac.new(TEST_SECRET.encode(), ZHANG_ID.encode(), sha256).hexdigest()
    expected_name_hash = hmac.new(TEST_SECRET.encode(), ZHANG_NAME.encode(), sha256).hexdigest()
    assert any(row["id_hash"] == expected_id_hash and row["name_hash"] == expected_name_hash for row in rows)


def test_raw_id_and_name_not_in_sqlite_file(tmp_path: Path) -> None:
    # SQLite only: its whole database is one file whose bytes can be searched.
    path = tmp_path / "bytes.sqlite3"
    registry = CardRegistry(f"sqlite:///{path}", secret=TEST_SECRET)
    assert import_cards.import_csv(SAMPLE_CSV, registry).ok
    registry.dispose()
    content = b"".join(p.read_bytes() for p in [path, *tmp_path.glob("bytes.sqlite3-*")])
    assert "北京市".encode() in content  # cities are stored: the check can see UTF-8
    for sample in _sample_rows():
        for raw in (
            sample["id_number"],
            sample["name"],
            sample["name"].replace(" ", "").lower(),
        ):
            assert raw.encode("utf-8") not in content, sample["status"]
            assert raw.encode("utf-16-le") not in content


def test_different_secrets_give_different_hashes(
    make_registry: RegistryFactory,
) -> None:
    assert hash_id_number(ZHANG_ID, "secret-a") != hash_id_number(ZHANG_ID, "secret-b")
    assert hash_name(ZHANG_NAME, "secret-a") != hash_name(ZHANG_NAME, "secret-b")

    writer = make_registry("secret-a")
    writer.create_schema()
    import_cards.import_csv(SAMPLE_CSV, writer)
    assert writer.lookup(ZHANG_ID, ZHANG_NAME).kind is LookupKind.FOUND
    other = make_registry("secret-b")
    assert other.lookup(ZHANG_ID, ZHANG_NAME) == LookupResult(LookupKind.NO_MATCH)


# --- unavailability ------------------------------------------------------------


def test_unavailable_when_port_is_closed() -> None:
    registry = CardRegistry(f"postgresql://postgres@127.0.0.1:{_closed_port()}/test", secret=TEST_SECRET)
    try:
        assert registry.lookup(ZHANG_ID, ZHANG_NAME) == LookupResult(LookupKind.UNAVAILABLE)
    finally:
        registry.dispose()


def test_unavailable_when_table_is_missing(make_registry: RegistryFactory) -> None:
    registry = make_registry()  # create_schema() never called
    assert registry.lookup(ZHANG_ID, ZHANG_NAME).kind is LookupKind.UNAVAILABLE


# --- importer --------------------------------------------------------------------

BAD_CSV = (
    CSV_HEADER
    + "11010519491231002X,张三,issued_not_activated,北京市,2025-03-10,2025-04-02,2027-06-30,网点\n"  # 2 ok
    + "110105194912310021,王五,in_production,北京市,2025-01-01,,,\n"  # 3 check digit
    + "440524188001010014,,reported_lost,汕头市,2019-05-20,,,\n"  # 4 empty name
    + "310101198503121236,赵六,lost,上海市,2025-01-01,,,\n"  # 5 unknown status
    + "440106199207080041,孙七,in_production,广州市,2025/08/15,,,\n"  # 6 bad date
    + "510104197801152112,周八,in_production,,2025-01-01,,,\n"  # 7 empty city
    + "11010519491231002x,张三,fully_active,北京市,2025-03-10,,,\n"  # 8 duplicate of 2
    + "445202199009093014,吴九,in_production\n"  # 9 short row
)


def test_importer_rejects_bad_file_and_loads_nothing(registry: CardRegistry, tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.csv"
    bad_file.write_text(BAD_CSV, encoding="utf-8")
    report = import_cards.import_csv(bad_file, registry)
    assert not report.ok
    assert report.loaded == 0
    lines = {error.line: error.message for error in report.errors}
    assert set(lines) == {3, 4, 5, 6, 7, 8, 9}
    assert "check_digit" in lines[3]
    assert "name" in lines[4]
    assert "status" in lines[5]
    assert "applied_on" in lines[6]
    assert "issuing_city" in lines[7]
    assert "line 2" in lines[8]
    # The valid row on line 2 was not loaded either.
    assert _row_count(registry) == 0
    assert registry.lookup(ZHANG_ID, ZHANG_NAME) == LookupResult(LookupKind.NO_MATCH)
    # Error messages are logged: they must not leak numbers or names.
    messages = "\n".join(str(error) for error in report.errors)
    assert "110105194912310021" not in messages and "王五" not in messages


def test_importer_rejects_bad_header(registry: CardRegistry, tmp_path: Path) -> None:
    bad_file = tmp_path / "header.csv"
    bad_file.write_text("id_number,name,status\n11010519491231002X,张三,fully_active\n")
    report = import_cards.import_csv(bad_file, registry)
    assert [error.line for error in report.errors] == [1]
    assert _row_count(registry) == 0


def _run_cli(*args: str, env_secret: str = TEST_SECRET) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, card_registry.SECRET_ENV: env_secret}
    env.pop(card_registry.URL_ENV, None)
    return subprocess.run(
        [sys.executable, "-m", "core.import_cards", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def test_cli_bad_file_exits_1_with_line_numbers(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.csv"
    bad_file.write_text(BAD_CSV, encoding="utf-8")
    database = tmp_path / "cli.sqlite3"
    result = _run_cli(str(bad_file), "--url", f"sqlite:///{database}")
    assert result.returncode == 1
    for line in (3, 4, 5, 6, 7, 8, 9):
        assert f"line {line}:" in result.stderr
    assert "110105194912310021" not in result.stderr
    assert not database.exists()  # nothing loaded, not even a schema


def test_cli_loads_sample(tmp_path: Path) -> None:
    database = tmp_path / "cli.sqlite3"
    result = _run_cli(str(SAMPLE_CSV), "--url", f"sqlite:///{database}")
    assert result.returncode == 0, result.stderr
    assert f"Imported {len(_sample_rows())} card(s)." in result.stdout
    registry = CardRegistry(f"sqlite:///{database}", secret=TEST_SECRET)
    try:
        assert registry.lookup(ZHANG_ID, ZHANG_NAME).kind is LookupKind.FOUND
    finally:
        registry.dispose()


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run_cli(str(tmp_path / "absent.csv"), "--url", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
