"""The `metacrm` command: init, check, plan, migrate, serve, createuser, token, team,
load-data, worker, workflow, outbox, import, report, export, apply.

Settings come from the environment: METACRM_APP (default: the default CRM shipped with
MetaCRM), DATABASE_URL (default sqlite:///var/metacrm.db), METACRM_SECRET_KEY. In an
installation folder made by `metacrm init DIR`, its metacrm.env fills in the ones the
environment does not set.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import ArgumentError, OperationalError

from .engine import sync
from .engine.errors import CrmError
from .installation import EXAMPLE_OBJECT, SETTINGS_FILE, InstallationError, create, use_settings
from .metadata import MetadataError, load
from .metadata.loader import display_path
from .web.settings import Settings


def _runtime(settings: Settings):
    from .engine.boot import open_runtime

    return open_runtime(settings.app_dir, settings.database_url)


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    app_dir = args.app_dir or settings.app_dir
    model = load(app_dir)
    fields = sum(len(o.fields) for o in model.objects.values())
    print(f"OK: app '{model.name}' ({display_path(Path(app_dir))}): {len(model.objects)} "
          f"objects, {fields} fields, {len(model.layouts)} layouts, {len(model.roles)} roles, "
          f"{len(model.workflows)} workflows, {len(model.reports)} reports, "
          f"{len(model.forms)} forms")
    return 0


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    """A new installation folder: settings with a fresh secret key, apps/, var/."""
    folder = Path(args.dir)
    create(folder, app=args.app)
    print(f"Created a MetaCRM installation in {folder}: {SETTINGS_FILE} (settings, with a new "
          "secret key), apps/, var/ (the database).")
    if args.app:
        print(f"App '{args.app}' in {folder / 'apps' / args.app}: it extends default_crm and "
              f"has an example object, '{EXAMPLE_OBJECT}'; {SETTINGS_FILE} serves it.")
    print(f"Next, in {folder}: metacrm createuser admin --role admin, then metacrm serve")
    return 0


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    result = sync.plan(rt.db, rt.model)
    print("\n".join(result.lines()))
    return 1 if result.refused else 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    result = sync.migrate(rt.db, rt.model)
    print("\n".join(result.lines()) if not result.empty
          else "The database already matches the model; nothing to do.")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .web.app import create_app

    rt = _runtime(settings)
    result = sync.migrate(rt.db, rt.model)
    print("migrate: " + ("\nmigrate: ".join(result.lines()) if not result.empty
                         else "the database already matches the model"), flush=True)
    app = create_app(settings, runtime=rt, migrate=False)
    print(f"MetaCRM '{rt.model.name}' on http://{args.host}:{args.port}/ "
          f"(database: {rt.db.url.render_as_string(hide_password=True)})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def cmd_createuser(args: argparse.Namespace, settings: Settings) -> int:
    from .engine.users import create_user

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    password = args.password
    if password is None:
        password = getpass.getpass(f"Password for {args.name}: ")
        if password != getpass.getpass("Password again: "):
            print("error: the two passwords differ; nothing was created", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("error: a password needs at least 8 characters; nothing was created",
              file=sys.stderr)
        return 1
    with rt.db.write() as conn:
        user = create_user(conn, rt.schema, args.name, role=args.role, password=password,
                           email=args.email, roles=rt.model.roles)
    print(f"Created user '{user.username}' (id {user.id}, role {user.role}).")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from .engine.users import create_token, find_user

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    with rt.db.write() as conn:
        user = find_user(conn, rt.schema, args.name)
        if user is None or not user.is_active:
            print(f"error: no active user named '{args.name}' (create one with: metacrm "
                  f"createuser {args.name} --role ROLE)", file=sys.stderr)
            return 1
        token = create_token(conn, rt.schema, user.id, label=args.label or "cli")
    print(f"A new API token for '{user.username}'; send it as 'Authorization: Bearer <token>'. "
          "It is shown once:")
    print(token)
    return 0


def cmd_team(args: argparse.Namespace, settings: Settings) -> int:
    from .engine.users import add_to_team, ensure_team, find_user

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    with rt.db.write() as conn:
        people = {}
        for name in [*(args.member or []), *([args.manager] if args.manager else [])]:
            user = find_user(conn, rt.schema, name)
            if user is None:
                print(f"error: no user named '{name}'; nothing was changed", file=sys.stderr)
                return 1
            people[name] = user
        team_id = ensure_team(conn, rt.schema, args.name, manager_id=people[
            args.manager].id if args.manager else None)
        for name in args.member or []:
            add_to_team(conn, rt.schema, team_id, people[name].id)
    members = ", ".join(args.member or []) or "no new members"
    print(f"Team '{args.name}': {members}" + (f"; manager {args.manager}" if args.manager
                                              else "") + ".")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Scheduled rules, the daily refresh of date formulas, and the outbox, in a loop."""
    import os
    import socket
    import time

    from .engine.outbox import Delivery, deliver
    from .engine.scheduler import refresh_formulas, run_schedules

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    delivery = Delivery.from_env()
    print(f"worker {worker} on {rt.db.url.render_as_string(hide_password=True)}", flush=True)
    while True:
        try:
            rt.refresh(force=True)  # rules added or changed in Setup since the last round
        except MetadataError as exc:
            print(f"worker: still on metadata version {rt.version}: {exc}", flush=True)
        fired = run_schedules(rt)
        refreshed = refresh_formulas(rt)
        sent = {"sent": 0, "failed": 0, "dead": 0, "repeated": 0, "lost": 0}
        while True:  # batch after batch while the outbox has more that is due
            batch = deliver(rt, worker, delivery, limit=args.batch, on_takeover=_taken_over)
            sent = {k: sent[k] + batch[k] for k in sent}
            if batch["sent"] + batch["failed"] + batch["dead"] < args.batch:
                break
        if any(fired.values()) or any(refreshed.values()) or any(sent.values()):
            print(f"fired {fired or '{}'}; formulas refreshed {refreshed or '{}'}; "
                  f"outbox {sent}", flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


def _taken_over(ids: list[int]) -> None:
    print(f"outbox: possibly repeated {len(ids)}: messages {', '.join(map(str, ids))} were "
          "being sent by a worker that stopped; they go again with the same Message-ID / "
          "X-MetaCRM-Delivery, for the receiver to drop the repeat", flush=True)


def cmd_workflow(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import workflows
    from .engine.scheduler import simulate

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    if args.action in ("test", "on", "off") and not args.name:
        print(f"error: workflow {args.action} needs a rule name (rules: "
              f"{', '.join(sorted(rt.model.workflows)) or 'none'})", file=sys.stderr)
        return 1
    if args.action == "test":
        result = simulate(rt, args.name)
        scheduled = rt.model.workflows[args.name].schedule is not None
        print(f"Workflow '{args.name}' on {result['object']}: "
              + ("its next round would check " if scheduled else "checked ")
              + f"{result['checked']} records; it would fire for {result['would_fire']}"
              + (" (it is switched off)" if result.get("active") is False else "")
              + (f" ({result['errors']} could not be evaluated)" if result["errors"] else "")
              + ". Nothing was changed.")
        for record_id, title in result["examples"]:
            print(f"  #{record_id} {title}")
        return 0
    if args.action in ("on", "off"):
        workflows.switch(rt, args.name, args.action == "on")
        print(f"Workflow '{args.name}' is {args.action}.")
        return 0
    ctx = rt.system_context()
    for run in workflows.runs(ctx, workflow=args.name, status=args.status, limit=args.limit):
        what = run["error"] or "; ".join(
            a.get("action", "?") + (f" {a['object']}#{a['id']}" if a.get("id") else "")
            for a in run["actions"])
        print(f"{run['at']:%Y-%m-%d %H:%M} {run['status']:<6} {run['workflow']} "
              f"{run['object']}#{run['record_id']} ({run['trigger']}): {what}")
    return 0


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import outbox

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    if args.retry:
        outbox.retry(rt, args.retry)
        print(f"Message {args.retry} is queued again.")
        return 0
    for row in outbox.messages(rt, status=args.status, limit=args.limit):
        print(f"#{row['id']} {row['kind']:<7} {row['status']:<7} attempts {row['attempts']}"
              + (f" — {row['last_error']}" if row["last_error"] else ""))
    return 0


def cmd_load_data(args: argparse.Namespace, settings: Settings) -> int:
    from .engine.loaddata import load_data

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    folder = Path(args.folder) if args.folder else Path(rt.model.root) / "data"
    summary = load_data(rt, folder, demo=args.demo)
    for line in summary:
        print(line)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from .metadata.documents import merged, write_app

    rt = _runtime(settings)
    out = Path(args.out_dir)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} is not empty; export into a new or empty folder", file=sys.stderr)
        return 1
    files = write_app(out, merged(rt.app_dir, rt.overlay.data()))
    print(f"exported app '{rt.model.name}' (metadata version {rt.version}) to {out}: "
          f"{len(files)} files")
    return 0


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    """Deploy an exported app folder into this installation, as Setup changes."""
    from .engine import overlays
    from .metadata.documents import merged, overlays_for, read_folder

    rt = _runtime(settings)
    if not args.plan:
        sync.migrate(rt.db, rt.model)
    target = read_folder(args.folder)
    if "app.yaml" not in target:
        print(f"error: {args.folder} is not an app folder (no app.yaml)", file=sys.stderr)
        return 1
    docs, missing = overlays_for(merged(rt.app_dir), target)
    preview = overlays.preview(rt, docs)
    print(f"apply {args.folder} over metadata version {rt.version}:")
    for name, _ in preview.diff:
        print(f"  document {name} changes")
    if not preview.diff:
        print("  no document changes")
    for line in preview.plan.lines():
        print(f"  database: {line}")
    for line in missing:
        print(f"  cannot apply: {line}")
    removals = [s for s in preview.plan.steps if s.action == "archive_column"]
    if args.plan:
        return 1 if preview.plan.refused or missing else 0
    if not args.yes:
        print("nothing done: add --plan to only look, or --yes to apply", file=sys.stderr)
        return 1
    if preview.plan.refused or missing:
        print("error: refused; nothing was applied", file=sys.stderr)
        return 1
    if removals and not args.allow_removals:
        print(f"error: the change removes {len(removals)} field(s) or object(s) (their data "
              "would be archived); add --allow-removals to go ahead. Nothing was applied",
              file=sys.stderr)
        return 1
    if not preview.diff:
        print("already up to date")
        return 0
    version = overlays.save(rt, docs, base=rt.version, user_id=None,
                            summary=f"apply {Path(args.folder).name}")
    print(f"applied as metadata version {version.number}")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import imports

    rt = _runtime(settings)
    sync.migrate(rt.db, rt.model)
    ctx = rt.system_context()
    if args.resume:
        job = args.resume
    else:
        if not args.object or not args.file:
            print("error: give OBJECT and FILE, or --resume JOB", file=sys.stderr)
            return 2
        path = Path(args.file)
        if not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 1
        data = path.read_bytes()
        sheet = imports.read_file(data, path.name)
        obj = rt.model.objects.get(args.object)
        if obj is None:
            print(f"error: there is no object '{args.object}'", file=sys.stderr)
            return 1
        mapping = imports.guess_mapping(ctx, obj, sheet.columns)
        for item in args.map or []:
            column, sep, target = item.partition("=")
            if not sep:
                print(f"error: --map {item}: write COLUMN=FIELD (FIELD empty to skip it)",
                      file=sys.stderr)
                return 2
            mapping[column.strip()] = target.strip() or None
        for column, target in mapping.items():
            print(f"  {column} -> {target or '(skipped)'}")
        job = imports.start(ctx, args.object, data, path.name, imports.Settings(
            mapping, args.key, args.dry_run), rt.files_dir.parent / "imports")
        print(f"import {job}: {len(sheet.rows)} rows of {path.name} into {args.object}"
              + (" (dry run)" if args.dry_run else ""), flush=True)

    def progress(done: int, total: int) -> None:
        print(f"  {done}/{total} rows", flush=True)

    summary = imports.run(ctx, job, progress=progress if args.verbose else None)
    for number, reason in summary.rejects[:args.show]:
        print(f"  row {number}: {reason}")
    if len(summary.rejects) > args.show:
        print(f"  ... {len(summary.rejects) - args.show} more rejected rows")
    print(summary.line())
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:

    from .engine import reports, sheets

    rt = _runtime(settings)
    ctx = rt.system_context()
    if args.lang:
        ctx = rt.context(ctx.user, args.lang)
    result = reports.run(ctx, reports.get_report(ctx, args.name))
    headers, rows = reports.labelled(ctx, result)
    rows = [["" if c is None else c for c in row] for row in rows]
    if args.format == "csv":
        sys.stdout.write(sheets.csv_text([headers, *rows], lineterminator="\n"))
        return 0
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metacrm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="make a new installation folder (run the other "
                                       "commands inside it)")
    init.add_argument("dir", help="a new or empty folder")
    init.add_argument("--app", metavar="NAME", help="also a new app apps/NAME that extends "
                                                    "default_crm, served by the installation")
    init.set_defaults(func=cmd_init)
    check = sub.add_parser("check", help="validate an app's metadata")
    check.add_argument("app_dir", nargs="?", help="the app folder (default: METACRM_APP)")
    check.set_defaults(func=cmd_check)
    sub.add_parser("plan", help="show what migrate would change").set_defaults(func=cmd_plan)
    sub.add_parser("migrate", help="bring the database up to the model").set_defaults(
        func=cmd_migrate)
    serve = sub.add_parser("serve", help="migrate, then serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)
    user = sub.add_parser("createuser", help="create a user")
    user.add_argument("name")
    user.add_argument("--role", required=True)
    user.add_argument("--password", help="asked for when not given")
    user.add_argument("--email")
    user.set_defaults(func=cmd_createuser)
    token = sub.add_parser("token", help="print a new API token for a user (last line)")
    token.add_argument("name")
    token.add_argument("--label")
    token.set_defaults(func=cmd_token)
    team = sub.add_parser("team", help="create a team or add members to it")
    team.add_argument("name")
    team.add_argument("--manager", help="the team's manager (a user name)")
    team.add_argument("--member", action="append", help="a user name (repeat for several)")
    team.set_defaults(func=cmd_team)
    worker = sub.add_parser("worker", help="run scheduled rules and send the outbox")
    worker.add_argument("--once", action="store_true", help="one round, then stop")
    worker.add_argument("--interval", type=float, default=30.0, help="seconds between rounds")
    worker.add_argument("--batch", type=int, default=100)
    worker.set_defaults(func=cmd_worker)
    flow = sub.add_parser("workflow", help="test a rule, switch it, or read the run log")
    flow.add_argument("action", choices=["test", "on", "off", "log"])
    flow.add_argument("name", nargs="?")
    flow.add_argument("--status", choices=["done", "failed"])
    flow.add_argument("--limit", type=int, default=50)
    flow.set_defaults(func=cmd_workflow)
    box = sub.add_parser("outbox", help="list queued, sent and failed emails and webhooks")
    box.add_argument("--status", choices=["pending", "sent", "dead"])
    box.add_argument("--retry", type=int, metavar="ID", help="queue a failed message again")
    box.add_argument("--limit", type=int, default=50)
    box.set_defaults(func=cmd_outbox)
    data = sub.add_parser("load-data", help="load the app's data/ files through the "
                                            "record service")
    data.add_argument("folder", nargs="?", help="a data folder (default: the app's data/)")
    data.add_argument("--demo", action="store_true", help="also load the demo data")
    data.set_defaults(func=cmd_load_data)
    load = sub.add_parser("import", help="import a CSV or XLSX file into an object "
                                         "through the record service")
    load.add_argument("object", nargs="?")
    load.add_argument("file", nargs="?")
    load.add_argument("--map", action="append", metavar="COLUMN=FIELD",
                      help="map a column to a field (repeat; FIELD empty skips the column); "
                           "other columns are matched by name or label")
    load.add_argument("--key", help="update the record with the same value of this field, "
                                    "insert the others")
    load.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    load.add_argument("--resume", type=int, metavar="JOB", help="finish an interrupted import")
    load.add_argument("--show", type=int, default=20, help="rejected rows to list (20)")
    load.add_argument("--verbose", action="store_true", help="print the progress")
    load.set_defaults(func=cmd_import)
    report = sub.add_parser("report", help="print a report's table")
    report.add_argument("name")
    report.add_argument("--format", choices=["table", "csv"], default="table")
    report.add_argument("--lang", choices=["vi", "en"], help="labels' language")
    report.set_defaults(func=cmd_report)
    export = sub.add_parser("export", help="write the metadata (app and Setup changes) as "
                                           "a clean YAML app folder")
    export.add_argument("out_dir")
    export.set_defaults(func=cmd_export)
    deploy = sub.add_parser("apply", help="deploy an exported app folder into this "
                                          "installation")
    deploy.add_argument("folder")
    deploy.add_argument("--plan", action="store_true", help="only show what would change")
    deploy.add_argument("--yes", action="store_true", help="apply the change")
    deploy.add_argument("--allow-removals", action="store_true",
                        help="also remove fields and objects (their data is archived, not "
                             "deleted)")
    deploy.set_defaults(func=cmd_apply)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        use_settings(Path.cwd())
        settings = Settings.from_env()
    except (InstallationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return args.func(args, settings)
    except (InstallationError, MetadataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except CrmError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except (OperationalError, ArgumentError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"error: cannot use the database {settings.database_url!r}: {reason}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
