"""Site configuration: ``$MFG_HOME/config.toml``, each key overridable by an environment variable.

| key            | environment          | meaning                                                   |
|----------------|----------------------|-----------------------------------------------------------|
| facility_id    | MFG_FACILITY_ID      | 5-character ISBT 128 facility identification number (FIN) |
| site_timezone  | MFG_SITE_TZ          | initial IANA site zone, stored by `mfg init` (then an     |
|                |                      | admin changes it in the database: mfg.services.site)      |
| site_name      | MFG_SITE_NAME        | manufacturer name printed on COAs and labels              |
| site_address   | MFG_SITE_ADDRESS     | manufacturer address printed on COAs                      |
| database_url   | MFG_DATABASE_URL     | SQLAlchemy URL; default SQLite at $MFG_HOME/celltrail.db  |
| label_printer  | MFG_LABEL_PRINTER    | command that receives label output on stdin (e.g. lp -d)  |
| label_printers | MFG_LABEL_PRINTERS   | per kind/stock routes: "dose-bag = lp -d z1; cryovial-2x1 = lp -d z2" |
| coa_printer    | MFG_COA_PRINTER      | command that receives COA PDFs on stdin                   |
| label_key      | MFG_LABEL_KEY        | site secret for the keyed MAC in label QR codes           |
| idle_minutes   | MFG_IDLE_MINUTES     | minutes without a key before the TUI locks and a CLI      |
|                |                      | session (`mfg login`) ends (default 15)                   |
| password_max_age_days | MFG_PASSWORD_MAX_AGE_DAYS | days a password is valid; then it must be  |
|                |                      | changed at the next login (default 90; 0 = never)         |
| password_history | MFG_PASSWORD_HISTORY | earlier passwords that may not be reused (default 5)     |
| audit_key_file | MFG_AUDIT_KEY_FILE   | the audit key (default $MFG_HOME/keys/audit.key)          |
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mfg.domain.printers import parse_routes
from mfg.errors import ConfigError, RuleViolation

# ISBT 128 FIN: first character A-N, P-Z or 1-9, then four digits.
FACILITY_ID_RE = re.compile(r"^[A-NP-Z1-9][0-9]{4}$")

ENV_KEYS = {
    "facility_id": "MFG_FACILITY_ID",
    "site_timezone": "MFG_SITE_TZ",
    "site_name": "MFG_SITE_NAME",
    "site_address": "MFG_SITE_ADDRESS",
    "database_url": "MFG_DATABASE_URL",
    "label_printer": "MFG_LABEL_PRINTER",
    "label_printers": "MFG_LABEL_PRINTERS",
    "coa_printer": "MFG_COA_PRINTER",
    "label_key": "MFG_LABEL_KEY",
    "idle_minutes": "MFG_IDLE_MINUTES",
    "password_max_age_days": "MFG_PASSWORD_MAX_AGE_DAYS",
    "password_history": "MFG_PASSWORD_HISTORY",
    "audit_key_file": "MFG_AUDIT_KEY_FILE",
}
# Account controls (21 CFR 11.300): whole numbers in a range, written as strings or numbers.
INT_KEYS: dict[str, tuple[int, int]] = {
    "idle_minutes": (1, 480),
    "password_max_age_days": (0, 3650),
    "password_history": (0, 24),
}
SECRET_KEYS = {"label_key"}


def default_home() -> Path:
    env = os.environ.get("MFG_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("celltrail", appauthor=False))


@dataclass(frozen=True)
class Settings:
    home: Path
    facility_id: str = "A9990"  # an ICCBBA validation FIN: set the site's own
    site_timezone: str = "UTC"
    site_name: str = "CellTrail GMP Facility"
    site_address: str = ""
    database_url: str = ""
    label_printer: str = ""
    label_printers: str = ""  # routes, see mfg.domain.printers
    coa_printer: str = ""
    label_key: str = ""
    idle_minutes: str = "15"
    password_max_age_days: str = "90"
    password_history: str = "5"
    audit_key_file: str = ""
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site_timezone)

    @property
    def idle_timeout(self) -> timedelta:
        """Idle time after which the TUI locks and a CLI session ends."""
        return timedelta(minutes=int(self.idle_minutes))

    @property
    def password_max_age(self) -> timedelta | None:
        days = int(self.password_max_age_days)
        return timedelta(days=days) if days else None

    @property
    def password_history_n(self) -> int:
        return int(self.password_history)

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def audit_key_path(self) -> Path:
        """The audit key: outside the database, beside its checkpoints (mfg.auditkey)."""
        if self.audit_key_file:
            return Path(self.audit_key_file).expanduser()
        return self.home / "keys" / "audit.key"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'celltrail.db'}"

    def shown(self) -> dict[str, str]:
        """Settings for display: secrets masked, with where each value came from."""
        out: dict[str, str] = {"home": str(self.home)}
        for key in ENV_KEYS:
            value = getattr(self, key)
            if key == "database_url":
                value = self.effective_database_url
                value = re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", value)
            if key in SECRET_KEYS and value:
                value = "*** (set)"
            out[key] = value
        return out


def _validate_ints(s: Settings, origin: str) -> None:
    for key, (low, high) in INT_KEYS.items():
        value = str(getattr(s, key)).strip()
        if not value.isdigit() or not low <= int(value) <= high:
            raise ConfigError(
                f"{origin}: {key} {value!r} must be a whole number from {low} to {high}"
            )


def _validate(s: Settings, origin: str) -> Settings:
    _validate_ints(s, origin)
    if not FACILITY_ID_RE.match(s.facility_id):
        raise ConfigError(
            f"{origin}: facility_id {s.facility_id!r} must be an ISBT 128 facility id: "
            "a letter A-N/P-Z or digit 1-9, then four digits (e.g. A9990, a validation FIN)"
        )
    try:
        parse_routes(s.label_printers)
    except RuleViolation as e:
        raise ConfigError(f"{origin}: label_printers: {e.message}") from None
    try:
        ZoneInfo(s.site_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{origin}: site_timezone {s.site_timezone!r} is not an IANA time zone "
            "(e.g. Asia/Shanghai, Europe/Berlin, UTC)"
        ) from None
    return s


def load_settings(home: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read config.toml under ``home`` (if any), then apply environment overrides."""
    env = dict(os.environ) if env is None else env
    home = home or (Path(env["MFG_HOME"]).expanduser() if env.get("MFG_HOME") else default_home())
    settings = Settings(home=home)
    sources = {k: "default" for k in ENV_KEYS}
    values: dict[str, Any] = {}
    path = home / "config.toml"
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        unknown = sorted(set(data) - set(ENV_KEYS))
        if unknown:
            raise ConfigError(
                f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(ENV_KEYS)}"
            )
        for key, value in data.items():
            if key in INT_KEYS and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ConfigError(f"{path}: key {key!r} must be a string")
            values[key] = value
            sources[key] = str(path)
    for key, var in ENV_KEYS.items():
        if env.get(var):
            values[key] = env[var]
            sources[key] = f"${var}"
    settings = replace(settings, sources=sources, **values)
    return _validate(settings, str(path) if path.exists() else "configuration")


def write_default_config(settings: Settings) -> Path:
    """Write a commented config.toml if none exists; never overwrite a site's file."""
    path = settings.config_path
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    values = asdict(settings)
    lines = ["# CellTrail site configuration. Environment variables override each key.", ""]
    for key, var in ENV_KEYS.items():
        if key == "database_url":
            lines.append(f'# database_url = "postgresql+psycopg://user@host/celltrail"  # ${var}')
            continue
        if key == "audit_key_file":
            lines.append(f'# audit_key_file = "/etc/celltrail/audit.key"  # ${var}; default: keys/')
            continue
        if key in SECRET_KEYS:
            lines.append(f'# {key} = "..."  # ${var}: keep this file readable by the site only')
            continue
        if key in INT_KEYS:
            lines.append(f"{key} = {values[key]}  # ${var}")
            continue
        lines.append(f"{key} = {values[key]!r}  # ${var}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
