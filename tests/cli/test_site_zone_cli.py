"""MFG_SITE_TZ in a user's environment cannot move "today" (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from tests.support.constants import PASSWORD


def test_env_zone_cannot_accept_a_count_dated_tomorrow(home):
    from mfg.cli import app

    home.ok("config", "timezone", "Etc/GMT+12", "--reason", "site at UTC-12", user="admin")
    home.subject()
    lot = home.register(day0_ago=5)
    # UTC+14 is always one or two dates ahead of UTC-12: "tomorrow" at the site
    ahead = datetime.now(UTC).astimezone(ZoneInfo("Etc/GMT-14")).date().isoformat()
    env = {"MFG_HOME": str(home.path), "MFG_PASSWORD": PASSWORD, "MFG_USER": "tech"}
    env["MFG_SITE_TZ"] = "Etc/GMT-14"
    args = ["count", "add", lot, "--date", ahead, "--total", "2e8", "--viable", "1e8"]
    r = CliRunner().invoke(app, args, env=env)
    assert r.exit_code == 1, r.output
    assert "[date-in-future]" in r.stderr
    shown = home.ok("config", "timezone", user="tech")
    assert "Etc/GMT+12" in shown.stdout
