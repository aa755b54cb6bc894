"""The `punchd users` commands: accounts of the web console (the first admin is made here).

Passwords are read from the terminal (asked twice, not echoed) or, for scripts, from
standard input with ``--password-stdin``; they are never taken as an argument (it would
show in ``ps`` and the shell's history) and never printed, nor is any hash.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from punchd.safetext import terminal as escape

if TYPE_CHECKING:
    from punchd.app import Actor, Site

users_app = typer.Typer(
    help="Accounts of the web console: add, passwd, disable, enable, list, sign-out, token.",
    no_args_is_help=True,
)

By = Annotated[
    str | None, typer.Option("--by", help="Who makes the change, for the audit (default: you)")
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for scripts)",
    ),
]
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def _site() -> Site:
    from punchd.cli._common import open_site, settings

    return open_site(settings())


def _actor(by: str | None) -> Actor:
    from punchd.app import Actor
    from punchd.cli._common import actor

    return Actor(actor(by))


def _ask(op: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an operation; a refusal (nothing was changed) is one line, exit 2."""
    from punchd.cli._common import fail
    from punchd.errors import PunchdError

    try:
        return op(*args, **kwargs)
    except PunchdError as exc:
        raise fail(str(exc)) from None


def _say(text: str) -> None:
    from punchd.cli._common import out

    out.print(text, highlight=False, soft_wrap=True)


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or asked twice on the terminal."""
    import getpass

    from punchd.cli._common import fail

    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise fail("--password-stdin: standard input has no password (an empty first line)")
        return password
    if not sys.stdin.isatty():
        raise fail(
            "no terminal to ask for the password on; give it on standard input with"
            " --password-stdin"
        )
    try:
        first = getpass.getpass("new password: ")
        second = getpass.getpass("again: ")
    except (EOFError, KeyboardInterrupt):
        raise fail("no password given; nothing was changed") from None
    if first != second:
        raise fail("the two passwords differ; nothing was changed")
    return first


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name (unique, any case)")],
    role: Annotated[str, typer.Option("--role", help="admin | hr | leader | payroll | employee")],
    department: Annotated[
        list[str] | None,
        typer.Option(
            "--department",
            help="hr: an assigned department (none: all); leader: a department led."
            " Repeat for more",
        ),
    ] = None,
    employee: Annotated[
        str | None,
        typer.Option("--employee", help="The employee number the account belongs to"),
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="zh_Hans | en (default: the browser's)")
    ] = None,
    password_stdin: PasswordStdin = False,
    by: By = None,
) -> None:
    """Add an account (asks for its password)."""
    from punchd.app import accounts

    actor = _actor(by)
    site = _site()
    password = read_password(password_stdin)
    account = _ask(
        accounts.add_account,
        site,
        name,
        password,
        role,
        actor=actor,
        departments=department or (),
        employee_no=employee,
        language=language,
    )
    scope = f"; departments {', '.join(account.departments)}" if account.departments else ""
    _say(f"account {escape(account.name)} added (role {account.role}{escape(scope)})")


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Account name")],
    password_stdin: PasswordStdin = False,
    by: By = None,
) -> None:
    """Set a new password; the account's sessions end."""
    from punchd.app import accounts

    actor = _actor(by)
    site = _site()
    account = _ask(accounts.get_account, site, name)
    password = read_password(password_stdin)
    ended = _ask(accounts.set_password, site, account.name, password, actor=actor)
    _say(f"password of {escape(account.name)} changed; {ended} session(s) ended")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="Account name")], by: By = None) -> None:
    """Stop an account from signing in; its sessions end."""
    from punchd.app import accounts

    account = _ask(accounts.disable_account, _site(), name, actor=_actor(by))
    _say(f"account {escape(account.name)} disabled")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="Account name")], by: By = None) -> None:
    """Let a disabled account sign in again."""
    from punchd.app import accounts

    account = _ask(accounts.enable_account, _site(), name, actor=_actor(by))
    note = " (but its employee has left: it still cannot sign in)" if account.disabled else ""
    _say(f"account {escape(account.name)} enabled{note}")


@users_app.command("list")
def users_list() -> None:
    """Accounts: role, departments, employee, disabled, live sessions."""
    from rich.table import Table

    from punchd.app import accounts
    from punchd.cli._common import out

    site = _site()
    listed = _ask(accounts.list_accounts, site)
    sessions = _ask(accounts.live_session_counts, site)
    table = Table(title="Accounts", title_justify="left")
    for column in ("name", "role", "departments", "employee", "disabled"):
        table.add_column(column)
    table.add_column("sessions", justify="right")
    for a in listed:
        table.add_row(
            escape(a.name),
            a.role,
            escape(", ".join(a.departments)) or "-",
            escape(a.employee_no or "-"),
            "yes" if a.disabled else "no",
            str(sessions.get(a.name, 0)),
        )
    out.print(table)


@users_app.command("sign-out")
def users_sign_out(
    name: Annotated[str, typer.Argument(help="Account name")], by: By = None
) -> None:
    """End every session of an account (it signs in again)."""
    from punchd.app import accounts

    site = _site()
    account = _ask(accounts.get_account, site, name)
    ended = _ask(accounts.sign_out_everywhere, site, account.name, actor=_actor(by))
    _say(f"{ended} session(s) of {escape(account.name)} ended")


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="Account name")],
    label: Annotated[str, typer.Option("--label", help="What the token is for")],
    by: By = None,
) -> None:
    """Make an API token for an account: printed once, stored only as a hash."""
    from punchd.app import accounts

    site = _site()
    account = _ask(accounts.get_account, site, name)
    token = _ask(accounts.create_api_token, site, account.name, label, actor=_actor(by))
    _say(f"API token for {escape(account.name)} ({escape(label.strip())}); shown only this once:")
    _say(token)


@users_app.command("revoke-tokens")
def users_revoke_tokens(
    name: Annotated[str, typer.Argument(help="Account name")], by: By = None
) -> None:
    """Revoke every API token of an account."""
    from punchd.app import accounts

    site = _site()
    account = _ask(accounts.get_account, site, name)
    revoked = _ask(accounts.revoke_api_tokens, site, account.name, actor=_actor(by))
    _say(f"{revoked} API token(s) of {escape(account.name)} revoked")
