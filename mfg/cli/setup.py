"""mfg init, mfg config show, mfg product check|show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, command

config_app = typer.Typer(
    help="Site configuration ($MFG_HOME/config.toml, environment).", no_args_is_help=True
)
product_app = typer.Typer(
    help="Product specifications (coa_templates/*.toml).", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(product_app, name="product")


@command(app, "init")
def init(
    cli: Cli,
    admin: Annotated[str | None, typer.Option(help="Create this first admin account.")] = None,
    full_name: Annotated[str, typer.Option(help="Printed name of the admin.")] = "",
) -> None:
    """Create the database (or upgrade its schema) and the first admin.

    The admin's password comes from MFG_PASSWORD, else it is prompted (never echoed).

    Example: MFG_HOME=~/celltrail mfg init --admin alice --full-name "Alice Admin"
    """
    from mfg.config import write_default_config
    from mfg.services import users

    settings = cli.settings
    db = cli.database(check_schema=False)
    password = None
    if admin:
        password = cli.password("Password for the new admin (12+ characters)")
    revision, created = users.init_database(
        db, admin=admin, full_name=full_name or admin or "", password=password, now=cli.now
    )
    cfg = write_default_config(settings) if db.dialect == "sqlite" else settings.config_path
    from mfg.store import db as store_db

    roles = store_db.owner_role(db.engine)
    owner_note = (
        f"connected as {roles[0]}, the owner of the tables: this role can drop the audit "
        "table's triggers; run the application as a role that owns no table "
        "(README: Tamper evidence)"
        if roles and roles[0] == roles[1]
        else ""
    )
    result = {
        "schema_revision": revision,
        "admin_created": created,
        "admin": admin,
        "database": settings.shown()["database_url"],
        "config": str(cfg),
        "audit_key": str(settings.audit_key_path),
        "runs_as_table_owner": bool(owner_note),
    }

    def human() -> None:
        cli.out.print(f"database ready at schema {revision}: {result['database']}")
        if created:
            cli.out.print(f"admin {admin} created")
        cli.out.print(f"configuration: {cfg}")
        key = settings.audit_key_path
        if key.exists():
            cli.out.print(f"audit key: {key} (back it up apart from the database)")
        if owner_note:
            cli.out.print(f"note: {owner_note}")

    cli.emit(result, human)


@command(config_app, "show")
def config_show(cli: Cli) -> None:
    """Show the effective configuration and where each value comes from (secrets masked).

    Example: mfg config show --json
    """
    s = cli.settings
    shown = s.shown()
    data = {"settings": shown, "sources": s.sources, "config_file": str(s.config_path)}

    def human() -> None:
        from rich.table import Table

        t = Table("key", "value", "from", title=f"CellTrail configuration ({s.config_path})")
        for key, value in shown.items():
            t.add_row(key, value, s.sources.get(key, ""))
        cli.out.print(t)

    cli.emit(data, human)


@command(product_app, "check")
def product_check(
    cli: Cli, file: Annotated[Path, typer.Argument(help="A product TOML file.")]
) -> None:
    """Validate a product specification file; errors name the file, the key and the rule.

    Example: mfg product check coa_templates/BH002-v1.toml
    """
    from mfg.specfiles import load_file

    p = load_file(file)
    data = {
        "file": str(file),
        "product": p.code,
        "name": p.name,
        "spec_version": p.spec_version,
        "tests": list(p.test_codes),
        "dose_levels": p.dose_levels,
        "sha256": p.sha256,
    }
    cli.emit(
        data,
        lambda: cli.out.print(
            f"ok: {p.code} spec version {p.spec_version}, {len(p.tests)} release tests, "
            f"dose levels {', '.join(p.dose_levels)}; sha256 {p.sha256[:16]}..."
        ),
    )


@command(product_app, "show")
def product_show(
    cli: Cli,
    code: Annotated[str, typer.Argument(help="Product code.")] = "BH002",
    version: Annotated[str | None, typer.Option(help="Spec version (default newest).")] = None,
) -> None:
    """Show a product's dose levels, harvest window and release specification.

    Example: mfg product show BH002 --version 1
    """
    from mfg.domain.numbers import format_cells
    from mfg.specfiles import load_product

    p = load_product(code, version, cli.settings.home / "products")

    def human() -> None:
        from rich.table import Table

        cli.out.print(f"[bold]{p.name}[/] ({p.code}), specification version {p.spec_version}")
        cli.out.print(
            f"protocol {p.protocol}; harvest window day {p.window_first_day}-"
            f"{p.window_last_day}; weight cap {p.weight_cap_kg:g} kg"
        )
        cli.out.print(
            "dose levels: "
            + ", ".join(f"{k} {format_cells(v)} {p.dose_unit}" for k, v in p.dose_levels.items())
        )
        t = Table("code", "test", "method", "specification", "may be pending")
        for ts in p.tests:
            t.add_row(
                ts.code, ts.name, ts.method, ts.acceptance, "yes" if ts.may_be_pending else ""
            )
        cli.out.print(t)

    cli.emit(p, human)


@command(config_app, "timezone")
def config_timezone(
    cli: Cli,
    zone: Annotated[
        str | None, typer.Argument(metavar="[ZONE]", help="New IANA zone (admins only).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why the zone changes (audited).")] = "",
) -> None:
    """Show the site time zone, which decides "today"; an admin changes it (audited, with a
    reason). It is a database setting: MFG_SITE_TZ and config.toml only give the initial value
    that `mfg init` stores.

    Example: mfg config timezone Asia/Shanghai --reason "site moved to the Beijing campus" --user admin
    """
    from mfg.services import site

    actor = cli.actor()
    db = cli.database()
    if zone is None:
        v = site.show_zone(db=db, actor=actor)
    else:
        v = site.set_zone(zone, reason, db=db, actor=actor, now=cli.now)

    def human() -> None:
        by = f" (set by {v.changed_by} at {cli.local(v.changed_at)})" if v.changed_by else ""
        note = "" if v.stored else " (not stored yet: run `mfg init`)"
        cli.out.print(f"site time zone {v.zone}{by}{note}")

    cli.emit(v, human)
