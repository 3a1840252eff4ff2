"""Load a CSV of social security cards into the card registry.

Usage::

    python -m core.import_cards FILE.csv [--url URL]

The header must be::

    id_number,name,status,issuing_city,applied_on,produced_on,activation_deadline,collection_outlet

Every row is checked first. If any row is bad, each problem is printed to
stderr with its line number, nothing is loaded and the exit status is 1.
Otherwise all rows are written in one transaction (identity numbers and
names hashed on the way in) and the count is printed. Exit status 2 means
the file or the database could not be used at all.

Error messages show identity numbers masked and never show names, since
import logs tend to be kept.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.card_registry import CardRegistry, CardStatus, CardUpsert, RegistryConfigError
from core.identity import mask_id_number, validate_id_number

EXPECTED_COLUMNS = (
    "id_number",
    "name",
    "status",
    "issuing_city",
    "applied_on",
    "produced_on",
    "activation_deadline",
    "collection_outlet",
)
_KNOWN_STATUSES = {status.value for status in CardStatus}


@dataclass(frozen=True)
class RowError:
    """A problem found in the CSV; ``line`` is 1-based, the header being line 1."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """Outcome of :func:`import_csv`: rows loaded, or the errors that stopped it."""

    loaded: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file was valid and loaded."""
        return not self.errors


def _parse_date(raw: str, column: str, line: int, errors: list[RowError], *, required: bool) -> date | None:
    if not raw:
        if required:
            errors.append(RowError(line, f"{column} is empty"))
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(RowError(line, f"{column} {raw!r} is not an ISO date (YYYY-MM-DD)"))
        return None


def _parse_row(row: dict[str | None, object], line: int, errors: list[RowError]) -> CardUpsert | None:
    """Check one CSV row; add its problems to ``errors``, return it if clean."""
    if None in row or any(row.get(column) is None for column in EXPECTED_COLUMNS):
        errors.append(RowError(line, f"expected {len(EXPECTED_COLUMNS)} fields"))
        return None
    values = {column: str(row[column]).strip() for column in EXPECTED_COLUMNS}
    errors_before = len(errors)

    id_check = validate_id_number(values["id_number"])
    if not id_check.ok:
        shown = mask_id_number(values["id_number"]) or "(empty)"
        errors.append(
            RowError(
                line,
                f"id_number {shown} is not a valid identity number ({id_check.problem})",
            )
        )
    if not values["name"]:
        errors.append(RowError(line, "name is empty"))
    if values["status"] not in _KNOWN_STATUSES:
        errors.append(RowError(line, f"status {values['status']!r} is not a known status"))
    if not values["issuing_city"]:
        errors.append(RowError(line, "issuing_city is empty"))
    applied_on = _parse_date(values["applied_on"], "applied_on", line, errors, required=True)
    produced_on = _parse_date(values["produced_on"], "produced_on", line, errors, required=False)
    deadline = _parse_date(
        values["activation_deadline"],
        "activation_deadline",
        line,
        errors,
        required=False,
    )
    if applied_on and produced_on and produced_on < applied_on:
        errors.append(RowError(line, "produced_on is before applied_on"))

    if len(errors) > errors_before or id_check.normalized is None or applied_on is None:
        return None
    return CardUpsert(
        id_number=id_check.normalized,
        name=values["name"],
        status=CardStatus(values["status"]),
        issuing_city=values["issuing_city"],
        applied_on=applied_on,
        produced_on=produced_on,
        activation_deadline=deadline,
        collection_outlet=values["collection_outlet"] or None,
    )


def validate_csv(path: Path | str) -> tuple[list[CardUpsert], list[RowError]]:
    """Read and check the whole file without touching the database.

    Returns the parsed records and every error found; the records are only
    meant to be loaded when the error list is empty.
    """
    records: list[CardUpsert] = []
    errors: list[RowError] = []
    first_line_of_id: dict[str, int] = {}
    # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        missing = [column for column in EXPECTED_COLUMNS if column not in header]
        unknown = [column for column in header if column not in EXPECTED_COLUMNS]
        if missing or unknown:
            problems = []
            if missing:
                problems.append("missing column(s): " + ", ".join(missing))
            if unknown:
                problems.append("unknown column(s): " + ", ".join(unknown))
            return [], [RowError(1, "bad header: " + "; ".join(problems))]
        reader.fieldnames = header
        for row in reader:
            # line_num is the line the record ends on, right for one-line rows.
            line = reader.line_num
            record = _parse_row(row, line, errors)
            if record is None:
                continue
            earlier = first_line_of_id.setdefault(record.id_number, line)
            if earlier != line:
                errors.append(
                    RowError(
                        line,
                        f"id_number {mask_id_number(record.id_number)} already on line {earlier}",
                    )
                )
                continue
            records.append(record)
    return records, errors


def import_csv(path: Path | str, registry: CardRegistry) -> ImportReport:
    """Validate ``path``; only if every row is valid, upsert all in one transaction.

    Creates the table if needed. File and database errors propagate.
    """
    records, errors = validate_csv(path)
    if errors:
        return ImportReport(loaded=0, errors=errors)
    registry.create_schema()
    return ImportReport(loaded=registry.upsert(records))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description="Load a card CSV into the card registry.")
    parser.add_argument("csv_file", type=Path, metavar="FILE.csv")
    parser.add_argument(
        "--url",
        help="SQLAlchemy URL (default: $CARD_REGISTRY_URL, else the local SQLite file)",
    )
    args = parser.parse_args(argv)

    try:
        registry = CardRegistry(args.url)
        report = import_csv(args.csv_file, registry)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"cannot read {args.csv_file}: {exc}", file=sys.stderr)
        return 2
    except RegistryConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        # Class name only: driver messages can include row values.
        print(
            f"database error: {exc.__class__.__name__}; nothing was loaded",
            file=sys.stderr,
        )
        return 2

    if not report.ok:
        for error in report.errors:
            print(str(error), file=sys.stderr)
        print(f"{len(report.errors)} error(s); nothing was loaded", file=sys.stderr)
        return 1
    print(f"Imported {report.loaded} card(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
