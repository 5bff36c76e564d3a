"""Fixed values shared by fixtures and tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mfg.domain.permissions import Role

PASSWORD = "correct-horse-battery-staple"
# A fixed "now" in the middle of a site day; lots in tests use dates relative to it.
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
TODAY = date(2026, 11, 25)
# The CLI's clock in tests whose data is made at NOW (the ``cli_clock`` fixture): a week on.
CLI_NOW = NOW + timedelta(days=7)

ROLES = {
    "tech": Role.TECHNICIAN,
    "tech2": Role.TECHNICIAN,
    "qa": Role.QA,
    "qa2": Role.QA,
    "sponsor": Role.SPONSOR,
    "admin": Role.ADMIN,
}
FULL_NAMES = {
    "tech": "Tom Technician",
    "tech2": "Tara Technician",
    "qa": "Quinn Quality",
    "qa2": "Quentin Quality",
    "sponsor": "Sam Sponsor",
    "admin": "Ada Admin",
}
