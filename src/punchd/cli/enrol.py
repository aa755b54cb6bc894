"""The `punchd enrol` commands: `plan` shows who each clock would gain, change and lose;
`apply` does it (registered by cli.main; calls :mod:`punchd.app.enrolment`).

Exit codes: 0 all done (or nothing to do), 1 a device failed or a person could not be
changed (each said on its own line), 2 a refusal before anything was read (no such device,
no device takes part, the database)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from punchd.safetext import terminal

if TYPE_CHECKING:
    from punchd.app.enrolment import DeviceEnrolment, EnrolmentRun
    from punchd.hr.enrolment import Change, TemplateCopy

enrol_app = typer.Typer(
    help="People on the clocks: `plan` shows the differences with the roster, `apply` "
    "carries them out (ZK clocks live, push clocks through their command queue; those whose "
    "[[devices]] entry has enrol set).",
    no_args_is_help=True,
)

Devices = Annotated[
    list[str] | None,
    typer.Option("--device", "-d", help="Only this device (repeatable; default: every one)"),
]
RemoveUnknown = Annotated[
    bool,
    typer.Option("--remove-unknown", help="Also remove users the roster does not know at all"),
]
IncludeAdmins = Annotated[
    bool,
    typer.Option(
        "--include-admins",
        help="Also change or remove users with an admin/enroller privilege on the clock",
    ),
]
Wait = Annotated[
    float, typer.Option(help="Seconds to wait for a device another collector is using")
]


def register(app: typer.Typer) -> None:
    app.add_typer(enrol_app, name="enrol")


def _change_line(change: Change) -> str:
    mark = {"add": "+", "update": "~", "remove": "-"}[change.kind]
    who = f" ({change.employee_no})" if change.employee_no else ""
    card = f" card {change.card}" if change.card and change.kind != "remove" else ""
    return f"  {mark} {change.enroll_no} {change.name}{who}{card}: {change.reason}"


def _print_plan(outcome: DeviceEnrolment) -> None:
    from punchd.cli._common import out

    name = terminal(outcome.device)
    if outcome.skipped:
        out.print(f"{name}: skipped: {terminal(outcome.skipped)}", highlight=False)
        return
    for code in outcome.unknown_departments:
        out.print(
            f"{name}: warning: enrol names department {terminal(code)} that does not exist",
            highlight=False,
        )
    plan = outcome.plan
    if plan is None:
        return
    if outcome.push:
        out.print(f"{name}: {_knowledge(outcome)}", highlight=False)
    out.print(
        f"{name}: {len(plan.adds)} to add, {len(plan.updates)} to update, "
        f"{len(plan.removes)} to remove; {plan.unchanged} unchanged, "
        f"{plan.unknown_kept} not in the roster left alone, {len(plan.kept)} kept"
        + (f"; {len(outcome.pending)} of them queued already" if outcome.pending else ""),
        highlight=False,
    )
    pending = {c.enroll_no for c in outcome.pending}
    refused = {f.change.enroll_no: f for f in outcome.failures}
    for change in plan.changes:
        line = _change_line(change)
        if change.enroll_no in pending:
            line += " (queued, waiting for the clock)"
        elif change.enroll_no in refused:
            f = refused[change.enroll_no]
            line += f" (last try: {f.kind.replace('_', ' ')}: {f.message})"
        out.print(terminal(line), highlight=False)
    for kept in plan.kept:
        out.print(
            terminal(f"  = {kept.enroll_no} {kept.name}: left alone ({kept.reason})"),
            highlight=False,
        )
    t = outcome.templates
    if t is not None:
        fingers = sum(len(c.fingers) for c in t.copies)
        out.print(
            f"{name}: fingerprints: {fingers} to copy for {len(t.copies)} people; "
            f"{t.present} on the clock already, {t.differing} differing left alone",
            highlight=False,
        )
        waiting = {(c.enroll_no, f) for c in outcome.templates_pending for f in c.fingers}
        for copy in t.copies:
            if not copy.fingers:  # a face, a palm … (push clocks: BIODATA)
                out.print(
                    terminal(
                        f"  f {copy.enroll_no} {copy.name} ({copy.employee_no}): {copy.reason}"
                    ),
                    highlight=False,
                )
                continue
            todo = tuple(f for f in copy.fingers if (copy.enroll_no, f) not in waiting)
            if not todo:
                continue
            out.print(
                terminal(
                    f"  f {copy.enroll_no} {copy.name} ({copy.employee_no}): "
                    f"fingers {_fingers(todo)}"
                ),
                highlight=False,
            )
        for copy in outcome.templates_pending:
            out.print(
                terminal(
                    f"  f {copy.enroll_no} {copy.name}: fingers {_fingers(copy.fingers)} "
                    "queued, waiting for the clock"
                ),
                highlight=False,
            )
        for tf in outcome.template_failures:
            if tf.kind != "not_supported" or outcome.push:
                out.print(
                    terminal(
                        f"  ! {_what(tf.copy)} {tf.copy.enroll_no} {tf.copy.name}: last try: "
                        f"{tf.kind.replace('_', ' ')}: {tf.message}"
                    ),
                    highlight=False,
                )
        for copy in t.incompatible:
            out.print(
                terminal(
                    f"  ! fingerprints {copy.enroll_no} {copy.name}: not supported: {copy.reason}"
                ),
                highlight=False,
            )


def _knowledge(outcome: DeviceEnrolment) -> str:
    """How old a push clock's plan is: it is made from what the clock last reported."""
    known = (
        f"users as the clock last reported them ({outcome.known_at:%Y-%m-%d %H:%M} UTC)"
        if outcome.known_at
        else "the clock has reported no user yet"
    )
    contact = (
        f"last contact {outcome.last_contact:%Y-%m-%d %H:%M} UTC"
        if outcome.last_contact
        else "never heard from"
    )
    return f"push clock, not read live: {known}; {contact}"


def _print_queued(outcome: DeviceEnrolment) -> None:
    from punchd.cli._common import out

    name = terminal(outcome.device)
    out.print(f"{name}: {_knowledge(outcome)}", highlight=False)
    queued = {"add": 0, "update": 0, "remove": 0}
    for change in outcome.queued:
        queued[change.kind] += 1
    fingers = sum(len(c.fingers) for c in outcome.templates_queued)
    waiting = len(outcome.pending) + len(outcome.templates_pending)
    plan = outcome.plan
    if plan is not None and not (outcome.queued or fingers or waiting or outcome.failures):
        out.print(f"{name}: nothing to do ({plan.unchanged} unchanged)", highlight=False)
    if outcome.queued or fingers:
        out.print(
            f"{name}: queued {queued['add']} to add, {queued['update']} to update, "
            f"{queued['remove']} to remove, {fingers} fingers; the clock takes them at its "
            "next poll",
            highlight=False,
        )
    if waiting:
        out.print(
            f"{name}: {waiting} queued before and not answered yet: not queued again",
            highlight=False,
        )
    for failure in outcome.failures:
        change = failure.change
        out.print(
            terminal(
                f"  ! {change.kind} {change.enroll_no} {change.name}: last try: "
                f"{failure.kind.replace('_', ' ')}: {failure.message} (queued again)"
            ),
            highlight=False,
        )
    for tf in outcome.template_failures:
        out.print(
            terminal(
                f"  ! {_what(tf.copy)} {tf.copy.enroll_no} {tf.copy.name}: "
                f"{tf.kind.replace('_', ' ')}: {tf.message}"
            ),
            highlight=False,
        )


def _what(copy: TemplateCopy) -> str:
    """What a template line is about: fingerprints, or (no finger numbers) faces, palms …"""
    return "fingerprints" if copy.fingers else "templates"


def _fingers(fingers: tuple[int, ...]) -> str:
    return ", ".join(str(f) for f in fingers)


def _print_applied(outcome: DeviceEnrolment) -> None:
    from punchd.cli._common import out

    name = terminal(outcome.device)
    if outcome.skipped:
        out.print(f"{name}: skipped: {terminal(outcome.skipped)}", highlight=False)
        return
    if outcome.push:
        _print_queued(outcome)
        return
    done = {"add": 0, "update": 0, "remove": 0}
    for change in outcome.done:
        done[change.kind] += 1
    plan = outcome.plan
    quiet = not (outcome.templates_done or outcome.template_failures)
    if plan is not None and plan.empty and quiet:
        out.print(f"{name}: nothing to do ({plan.unchanged} unchanged)", highlight=False)
    elif plan is not None:
        out.print(
            f"{name}: added {done['add']}, updated {done['update']}, removed {done['remove']}"
            + (f"; {len(outcome.failures)} failed" if outcome.failures else ""),
            highlight=False,
        )
    for failure in outcome.failures:
        change = failure.change
        out.print(
            terminal(
                f"  ! {change.kind} {change.enroll_no} {change.name}: "
                f"{failure.kind.replace('_', ' ')}: {failure.message}"
            ),
            highlight=False,
        )
    if outcome.templates is not None and (outcome.templates_done or outcome.template_failures):
        fingers = sum(len(c.fingers) for c in outcome.templates_done)
        out.print(
            f"{name}: fingerprints: copied {fingers} for {len(outcome.templates_done)} people"
            + (f"; {len(outcome.template_failures)} failed" if outcome.template_failures else ""),
            highlight=False,
        )
    for tf in outcome.template_failures:
        out.print(
            terminal(
                f"  ! {_what(tf.copy)} {tf.copy.enroll_no} {tf.copy.name}: "
                f"{tf.kind.replace('_', ' ')}: {tf.message}"
            ),
            highlight=False,
        )


def _report(run: EnrolmentRun, *, applied: bool) -> int:
    from punchd.cli._common import err, out

    failed = False
    if run.templates_note:
        out.print(terminal(run.templates_note), highlight=False)
    for device, count in (run.templates_learnt or {}).items():
        if count:
            verb = "stored" if applied else "to store"
            out.print(
                f"{terminal(device)}: fingerprints: {count} new {verb} (encrypted)",
                highlight=False,
            )
    for outcome in run.devices:
        if applied:
            _print_applied(outcome)
        else:
            _print_plan(outcome)
        if outcome.error:
            failed = True
            kind = (outcome.error_kind or "error").replace("_", " ")
            err.print(
                f"[bold red]error:[/] {terminal(outcome.device)}: {kind}: "
                f"{terminal(outcome.error)}",
                highlight=False,
            )
        failed = failed or bool(outcome.failures) or bool(outcome.template_failures)
    return 1 if failed else 0


@enrol_app.command("plan")
def plan(
    device: Devices = None,
    remove_unknown: RemoveUnknown = False,
    include_admins: IncludeAdmins = False,
    on: Annotated[
        str | None,
        typer.Option("--on", metavar="YYYY-MM-DD", help="As of this site date (default: today)"),
    ] = None,
    wait: Wait = 60.0,
) -> None:
    """Show, clock by clock, who would be added, updated and removed. Changes nothing."""
    from punchd.app.enrolment import enrol_plan
    from punchd.cli._common import fail, open_site, parse_date, settings
    from punchd.errors import PunchdError

    day = None if on is None else parse_date(on, "--on")
    site = open_site(settings())
    try:
        run = enrol_plan(
            site,
            device,
            remove_unknown=remove_unknown,
            include_admins=include_admins,
            today=day,
            wait=wait,
        )
    except PunchdError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(_report(run, applied=False))


@enrol_app.command("apply")
def apply(
    device: Devices = None,
    remove_unknown: RemoveUnknown = False,
    include_admins: IncludeAdmins = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who makes the change, for the audit (default: you)")
    ] = None,
    wait: Wait = 60.0,
) -> None:
    """Carry out the plan, device by device, under each device's collection lease.
    Audited; a second run does nothing."""
    from punchd.app import Actor
    from punchd.app.enrolment import enrol_apply
    from punchd.cli._common import actor, fail, open_site, settings
    from punchd.errors import PunchdError

    who = Actor(actor(by))
    site = open_site(settings())
    try:
        run = enrol_apply(
            site,
            device,
            actor=who,
            remove_unknown=remove_unknown,
            include_admins=include_admins,
            wait=wait,
        )
    except PunchdError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(_report(run, applied=True))


@enrol_app.command("new-key")
def new_key() -> None:
    """Print a fresh key for [enrolment] template_key (fingerprint templates are encrypted
    with it in the database). Keep it safe: without it the stored templates are lost."""
    from punchd.app.enrolment import new_template_key
    from punchd.cli._common import out

    out.print(new_template_key(), highlight=False)
