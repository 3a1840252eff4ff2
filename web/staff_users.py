"""Staff accounts of the web pages, from the command line (no account or password ships with the project).

    python -m web.staff_users add NAME        # asks for the password twice
    python -m web.staff_users passwd NAME     # new password; unlocks, ends the account's sessions
    python -m web.staff_users disable NAME    # no more logins; ends its sessions
    python -m web.staff_users enable NAME
    python -m web.staff_users unlock NAME     # lift a lock-out after 5 wrong passwords
    python -m web.staff_users list

`make staff-user USER=NAME` runs `add`. The password is read with getpass, or from the environment
variable STAFF_PASSWORD (scripts and tests); it needs at least 12 characters. The accounts live in the
operations database: OPS_DB_URL, or --url, else SQLite var/ops.sqlite3.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable

from sqlalchemy.engine import Engine

from core.ops_store import engine_from_env
from web.auth import MIN_PASSWORD, NoSuchUser, StaffStore, check_password

PASSWORD_ENV = "STAFF_PASSWORD"


class Refused(Exception):
    """A command that cannot be carried out; its message is for the person at the terminal."""


def read_password(prompt: Callable[[str], str] | None = None) -> str:
    """STAFF_PASSWORD if set, else asked twice with getpass (both must match); checked for length."""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        prompt = prompt or getpass.getpass
        password = prompt(f"password (at least {MIN_PASSWORD} characters): ")
        if prompt("the same password again: ") != password:
            raise Refused("the two passwords differ")
    try:
        check_password(password)
    except ValueError as error:
        raise Refused(str(error)) from None
    return password


def add_user(store: StaffStore, name: str, password: str) -> str:
    try:
        created = store.add_user(name, password)
    except ValueError as error:  # a bad name or password, or UserExists
        raise Refused(str(error)) from None
    store.record("cli", "user.add", created)
    return f"staff user {created!r} created"


def change_password(store: StaffStore, name: str, password: str) -> str:
    store.set_password(name, password)
    store.record("cli", "user.passwd", name.strip().lower())
    return f"password of {name!r} changed; its sessions were ended"


def disable_user(store: StaffStore, name: str) -> str:
    store.disable(name)
    store.record("cli", "user.disable", name.strip().lower())
    return f"staff user {name!r} disabled; its sessions were ended"


def enable_user(store: StaffStore, name: str) -> str:
    store.enable(name)
    store.record("cli", "user.enable", name.strip().lower())
    return f"staff user {name!r} enabled"


def unlock_user(store: StaffStore, name: str) -> str:
    store.unlock(name)
    store.record("cli", "user.unlock", name.strip().lower())
    return f"staff user {name!r} unlocked"


def list_users(store: StaffStore) -> str:
    users = store.users()
    if not users:
        return "no staff users (add one: make staff-user USER=name)"
    lines = [f"{'user':<24} {'created (UTC)':<17} state"]
    for user in users:
        state = "disabled" if user.disabled else ("locked" if user.locked() else "active")
        if user.locked() and user.locked_until is not None:
            state += f" until {user.locked_until:%Y-%m-%d %H:%M} UTC"
        if user.failed_count and not user.locked():
            state += f" ({user.failed_count} failed)"
        lines.append(f"{user.username:<24} {user.created_at:%Y-%m-%d %H:%M} {state}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, engine: Engine | None = None) -> int:
    """Run one command; 0 when done, 1 for an unknown user, 2 when refused."""
    parser = argparse.ArgumentParser(prog="python -m web.staff_users", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="SQLAlchemy URL of the operations database (default: OPS_DB_URL)")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("add", "passwd", "disable", "enable", "unlock"):
        commands.add_parser(command).add_argument("name")
    commands.add_parser("list")
    args = parser.parse_args(argv)
    store = StaffStore(engine or engine_from_env(args.url))
    try:
        if args.command == "list":
            message = list_users(store)
        elif args.command == "add":
            message = add_user(store, args.name, read_password())
        elif args.command == "passwd":
            if store.user(args.name) is None:
                raise NoSuchUser(f"no staff user {args.name!r}")
            message = change_password(store, args.name, read_password())
        else:
            action = {"disable": disable_user, "enable": enable_user, "unlock": unlock_user}[args.command]
            message = action(store, args.name)
    except NoSuchUser as error:
        print(f"{error} (see: python -m web.staff_users list)", file=sys.stderr)
        return 1
    except Refused as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
