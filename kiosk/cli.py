"""The ``kiosk`` command: Flask's CLI bound to kiosk:create_app, plus the hall's commands.

Each command parses its arguments, calls a plain function of kiosk/ and commits.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from datetime import date

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from . import clock, summary, writerproc
from .bootstrap import first_run, init_db
from .csvfiles import ImportFailed, open_text
from .db import db, utcnow
from .demo import seed_demo
from .exports import FORMATS, export_ratings
from .fields import InputError
from .imports import import_ratings
from .models import ROLES, TOKEN_SCOPES, Window
from .scale import CHANNELS
from .users import save_user
from .windows import import_windows


def main() -> None:
    from . import create_app

    FlaskGroup(create_app=create_app, help="Citizen feedback for service halls "
               "(政务服务好差评).").main()


def hall_tz():
    return clock.zone(current_app.config["TIMEZONE"])


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the schema (safe to run twice); no demo data."""
    init_db()
    click.echo("database is up to date")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed the demo hall into an empty database (creating the schema if need be)."""
    init_db()
    try:
        count = seed_demo(hall_tz())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"demo hall created with {count} ratings")


@click.command("import-windows")
@with_appcontext
@click.argument("file")
def import_windows_command(file: str) -> None:
    """Upsert windows by code from a CSV (code,name,department[,hall])."""
    with _all_or_nothing(), open_text(file) as fh:
        result = import_windows(fh)
    click.echo(f"{result.created} windows created, {result.updated} updated")


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password", help="prompted for when left out")
@click.option("--department", help="for --role department: the department they run")
def create_user_command(name: str, role: str, password: str | None,
                        department: str | None) -> None:
    """Create a back-office user (or reset an existing one's role and password)."""
    if role == "department" and not department:
        raise click.UsageError("--role department needs --department NAME")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        _, created = save_user(name, role, password, department)
    except InputError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"user {name} {'created' if created else 'updated'} with role {role}")


@click.command("export-ratings")
@with_appcontext
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]),
              help="first day (hall time), inclusive")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]),
              help="last day (hall time), inclusive")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv",
              help="gbt39046: the national GB/T 39046 rating records, counted ratings "
                   "only, needs REGION_CODE")
@click.option("--with-phone", is_flag=True, help="whole phone numbers instead of masked")
def export_ratings_command(first, last, fmt: str, with_phone: bool) -> None:
    """Write every stored rating to stdout, oldest first."""
    start, end = clock.day_range_utc(_day(first), _day(last), hall_tz())
    try:
        export_ratings(sys.stdout, fmt, start, end, hall_tz(), with_phone,
                       current_app.config.get("REGION_CODE") or "")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _day(value) -> date | None:
    return value.date() if value else None


@click.command("import-ratings")
@with_appcontext
@click.argument("file")
@click.option("--channel", type=click.Choice(list(CHANNELS)), default="kiosk",
              show_default=True, help="for rows whose channel column is empty or absent")
@click.option("--open-cases", is_flag=True,
              help="open the follow-up cases the ratings call for (history opens none "
                   "unless asked)")
def import_ratings_command(file: str, channel: str, open_cases: bool) -> None:
    """Import ratings from a CSV with the export's columns; all or nothing."""
    with _all_or_nothing(), open_text(file) as fh, _file_progress(fh, "importing") as moved:
        result = import_ratings(fh, hall_tz(), channel, progress=moved,
                                open_cases=open_cases)
    click.echo(f"{result.rows} ratings imported: {result.created} new, "
               f"{result.updated} updated"
               + (f"; {result.cases} follow-up cases opened" if open_cases else ""))


@contextmanager
def _all_or_nothing():
    """A CSV import in one transaction: committed whole, or rolled back and its error
    (a bad line, an unreadable file) said plainly."""
    try:
        yield
    except (ImportFailed, OSError, UnicodeDecodeError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()


@contextmanager
def _file_progress(fh, label: str):
    """A progress bar over how much of ``fh`` has been read, on a terminal only;
    yields the function to call as the work moves on."""
    raw = getattr(fh, "buffer", None)
    try:
        size = os.fstat(fh.fileno()).st_size if raw is not None else 0
    except (OSError, ValueError):
        size = 0
    if not size or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=size, label=label, file=sys.stderr) as bar:
        def moved() -> None:
            bar.update(raw.tell() - bar.pos)
        yield moved
        bar.update(size - bar.pos)


@click.command("rebuild-summary")
@with_appcontext
def rebuild_summary_command() -> None:
    """Recompute the league summary from the ratings (it must equal what was kept)."""
    wrong = summary.rebuild(db.session, hall_tz())
    db.session.commit()
    if wrong:
        click.echo(f"summary rebuilt: {wrong} entries were wrong and are now corrected")
    else:
        click.echo("summary rebuilt: it already matched the ratings")


@click.command("backup")
@with_appcontext
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="the backup file to write (replaced whole, only once the copy is checked)")
def backup_command(out: str) -> None:
    """A consistent copy of the SQLite database, taken while serving (PostgreSQL:
    pg_dump)."""
    from .backup import BackupError, backup_sqlite, sqlite_path
    from .phonekeys import key_path

    try:
        done = backup_sqlite(sqlite_path(current_app.config["SQLALCHEMY_DATABASE_URI"]), out)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {done.ratings} ratings ({done.size:,} bytes) to {done.path}")
    click.echo(f"keep a copy of the phone key {key_path(current_app)} too, apart from this "
               "file: without it the backup's phone numbers cannot be read")


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-demo", is_flag=True, help="do not seed the demo hall")
def serve_command(host: str, port: int, threads: int, no_demo: bool) -> None:
    """Serve with waitress; on an empty database, set it up first."""
    from .serving import serve  # waitress, without its main loop spinning

    init_db()
    first = first_run()
    if first.admin_password:
        click.echo("created user 'admin' with password (shown once): "
                   f"{first.admin_password}")
    if first.empty and not no_demo:
        count = seed_demo(hall_tz())
        click.echo(f"seeded the demo hall with {count} ratings")
    base = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
    lines = _urls(current_app, base)
    db.session.commit()  # (the demo's pairing links are stored by now)
    for line in lines:
        click.echo(line)
    sys.stdout.flush()
    # waitress warns on every request that finds all threads busy; at a hall's peak
    # that is a line per tap, and writing it costs more than storing the rating.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # Behind PROXY_COUNT trusted proxies the app reads X-Forwarded-Proto itself
    # (werkzeug's ProxyFix, admin/auth.py): waitress must pass it on, not strip it.
    proxied = int(current_app.config.get("PROXY_COUNT") or 0) > 0
    writerproc.attach(current_app)  # the writer process: see its docstring
    _start_alerts(current_app._get_current_object())
    serve(current_app._get_current_object(), host=host, port=port, threads=threads,
          ident="kiosk", clear_untrusted_proxy_headers=not proxied)


def _urls(app: Flask, base: str) -> list[str]:
    from .demo import is_demo, pairing_links

    code = db.session.scalar(sa.select(Window.code).order_by(Window.code).limit(1))
    lines = [f"serving on {base}"]
    if code:
        # A kiosk page takes ratings only on a tablet paired with its window.
        lines.append(f"  kiosk (tablet) : {base}/k/{code} (pair the tablet first: "
                     f"kiosk pair-device {code})")
        lines.append(f"  QR page (phone): {base}/q/{code}")
    lines.append(f"  rating API     : {base}/api/ratings")
    if "admin" in app.blueprints:
        lines.append(f"  back office    : {base}/admin/")
    lines.append(f"  hall board (TV): {base}/board")
    from .surveys import offered  # questionnaires open now (the demo has one)
    today = clock.to_local(utcnow(), hall_tz()).date()
    lines += [f"  questionnaire  : {base}/s/{survey.slug}" for survey in offered(today, "qr")]
    if is_demo(db.session):
        hours = app.config["PAIRING_CODE_HOURS"]
        lines.append(f"demo kiosk tablets: open one link per browser; it pairs that browser "
                     f"with the window and opens its kiosk page (each works once, "
                     f"{hours:g} h):")
        lines += [f"  {code} {name}: {url}"
                  for code, name, url in pairing_links(db.session, base, hours)]
    return lines


@click.command("pair-device")
@with_appcontext
@click.argument("window")
@click.option("--clerk", is_flag=True,
              help="pair the clerk's computer (the 请评价 page) instead of the kiosk tablet")
def pair_device_command(window: str, clerk: bool) -> None:
    """Print a one-time link (on the last line) that pairs a tablet with WINDOW:
    opening it sets the tablet's device cookie and lands on the window's page."""
    from .devices import create_code, pair_url
    from .qr import qr_base

    found = db.session.scalar(sa.select(Window).where(Window.code == window))
    if found is None:
        raise click.ClickException(f"unknown window {window!r}")
    hours = current_app.config["PAIRING_CODE_HOURS"]
    code = create_code(db.session, found, "clerk" if clerk else "kiosk", hours=hours)
    db.session.commit()
    base = qr_base(current_app.config.get("PUBLIC_BASE_URL"), "http://localhost:8000")
    if not base.configured:
        click.secho(f"warning: PUBLIC_BASE_URL is not set, so the link points at {base.url}; "
                    "on a tablet, use the address it reaches this server at instead "
                    "(未设置 PUBLIC_BASE_URL：请把链接中的地址换成平板能访问的服务器地址)",
                    err=True, fg="red")
    what = "the clerk's computer" if clerk else "the kiosk tablet"
    click.echo(f"open this link once on {what} of window {found.code} {found.name} "
               f"within {hours:g} hours:")
    click.echo(pair_url(base.url, code))


@click.command("qr")
@with_appcontext
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="folder for <code>.png, <code>.svg and posters.pdf")
def qr_command(out_dir: str) -> None:
    """Write each active window's QR code (PNG, SVG) and a PDF of A4 posters."""
    from .qr import qr_base, write_all

    base = qr_base(current_app.config.get("PUBLIC_BASE_URL"), "http://localhost:8000")
    try:
        written = write_all(out_dir, base.url, draft=not base.configured)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    if base.warning:
        click.secho(f"warning: {base.warning}", err=True, fg="red")


@click.command("import-survey")
@with_appcontext
@click.argument("file")
def import_survey_command(file: str) -> None:
    """Import a questionnaire (JSON, CONTRACT.md); a new version when its slug exists."""
    from . import surveys

    try:
        data = surveys.read_file(file)
        before = surveys.by_slug(data.get("slug")) if isinstance(data, dict) else None
        was = before.current_version if before is not None else None
        version = surveys.import_survey(data)
    except surveys.SurveyError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    survey = version.survey
    period = f"{survey.starts or '…'} – {survey.ends or '…'}"
    what = "unchanged, still" if version.number == was else "published as"
    click.echo(f"questionnaire {survey.slug}: {what} version {version.number} "
               f"({len(version.definition['questions'])} questions, open {period}); "
               f"page /s/{survey.slug}")


@click.command("purge-phones")
@with_appcontext
@click.option("--dry-run", is_flag=True, help="print what would be erased; change nothing")
def purge_phones_command(dry_run: bool) -> None:
    """Erase phone numbers whose case closed more than PHONE_RETENTION_DAYS ago (and
    numbers nobody will call any more); safe to run daily from cron."""
    from .retention import purge_phones

    try:
        report = purge_phones(utcnow(), current_app.config["PHONE_RETENTION_DAYS"], dry_run)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for line in report.lines():
        click.echo(line)


@click.command("rotate-phone-key")
@with_appcontext
def rotate_phone_key_command() -> None:
    """Seal every stored phone number with a new key and retire the old key.

    Running servers pick up the new key by themselves within seconds; keep a backup
    of the key file (instance/phone.key) apart from the database's."""
    from . import phonekeys

    ring = phonekeys.keyring()
    click.echo(f"adding a new phone key to {ring.path} ...")
    try:
        done = phonekeys.rotate(db.session, ring)
    except phonekeys.PhoneKeyError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"new key {done.new_key}: re-sealed {done.resealed} phone numbers")
    if done.dropped:
        click.echo(f"retired key(s) {', '.join(done.dropped)}: removed from {ring.path}")
    if done.kept:
        click.echo(f"old key(s) {', '.join(done.kept)} kept: numbers were stored with them "
                   "meanwhile; run the command again")


@click.command("create-token")
@with_appcontext
@click.argument("name")
@click.option("--scope", type=click.Choice(TOKEN_SCOPES), default="read", show_default=True,
              help="read: the read API (/api/v1); evaluations: opening service events")
def create_token_command(name: str, scope: str) -> None:
    """Make an API token for another system; it is printed once, on the last line."""
    from .tokens import create_token

    try:
        made = create_token(name, scope)
    except InputError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"token {made.row.name} created with scope {scope}; it is shown only now, "
               "keep it secret (Authorization: Bearer <token>):")
    click.echo(made.token)


@click.command("list-tokens")
@with_appcontext
def list_tokens_command() -> None:
    """List API tokens: name, scope, start of the token, created, last used, revoked."""
    from .tokens import all_tokens

    def when(moment):
        return clock.format_local(moment, hall_tz()) if moment else "-"

    rows = all_tokens()
    if not rows:
        click.echo("no API tokens (kiosk create-token NAME makes one)")
    for t in rows:
        state = f"revoked {when(t.revoked_at)}" if t.revoked_at else "active"
        click.echo(f"{t.name}\t{t.scope}\t{t.prefix}…\tcreated {when(t.created_at)}"
                   f"\tlast used {when(t.last_used_at)}\t{state}")


@click.command("revoke-token")
@with_appcontext
@click.argument("name")
def revoke_token_command(name: str) -> None:
    """Revoke an API token at once (it stays listed, marked revoked)."""
    from .tokens import revoke_token

    try:
        revoke_token(name)
    except InputError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"token {name} revoked")


def _start_alerts(app: Flask) -> None:
    """The work-chat alert worker (kiosk/alerts.py), a daemon thread, when configured."""
    from . import alerts

    try:
        worker = alerts.start_worker(app)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if worker is not None:
        cfg = worker.cfg
        click.echo(f"alerts to the work chat: {cfg.format} webhook "
                   f"{alerts.shown_url(cfg.url)} ({', '.join(sorted(cfg.kinds))})")


@click.command("send-alerts")
@with_appcontext
def send_alerts_command() -> None:
    """One round of work-chat alerts (for cron, or to try a webhook): read new
    ratings, check the clock rules, post what is due. `kiosk serve` does this itself."""
    from . import alerts

    try:
        cfg = alerts.settings(current_app)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not cfg.enabled:
        raise click.ClickException("ALERT_WEBHOOK_URL is not set: alerts are off "
                                   "(未设置 ALERT_WEBHOOK_URL，提醒未开启)")
    done = alerts.run_once(current_app._get_current_object())
    click.echo(f"{done.read} new ratings read, {done.new} new alerts; "
               f"{done.delivery.sent} sent, {done.delivery.failed} not delivered"
               + "".join(f"\n  {e}" for e in done.delivery.errors[:5]))
    waiting = alerts.counts()
    click.echo(f"outbox: {waiting['pending']} waiting, {waiting['failed']} failed "
               "(see /admin/alerts)")


@click.command("import-items")
@with_appcontext
@click.argument("file")
def import_items_command(file: str) -> None:
    """Upsert service items (事项公示) by code from a CSV
    (code,name,department,time_limit_days[,documents][,windows])."""
    from .items import import_items

    with _all_or_nothing(), open_text(file) as fh:
        result = import_items(fh)
    click.echo(f"{result.created} items created, {result.updated} updated"
               + (f", windows set for {result.linked}" if result.linked else ""))


@click.command("report")
@with_appcontext
@click.option("--month", required=True, help="YYYY-MM, a calendar month in hall time")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="the PDF file to write")
@click.option("--hall", "hall_id", type=int, help="one hall's id (default: every hall)")
def report_command(month: str, out: str, hall_id: int | None) -> None:
    """Write the monthly bulletin (月度通报) as an A4 PDF."""
    from .reports import make_report, month_of

    try:
        pdf = make_report(db.session, month_of(month), hall_tz(), hall_id=hall_id,
                          prior=current_app.config["LEAGUE_PRIOR"])
        with open(out, "wb") as fh:
            fh.write(pdf)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out}")


COMMANDS = (init_db_command, demo_command, import_windows_command, create_user_command,
            export_ratings_command, import_ratings_command, rebuild_summary_command,
            backup_command, serve_command, qr_command, purge_phones_command,
            rotate_phone_key_command, create_token_command, list_tokens_command,
            revoke_token_command, pair_device_command,
            import_items_command, report_command, import_survey_command,
            send_alerts_command)


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
