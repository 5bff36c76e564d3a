"""Label printer routing: which command receives the output of a label kind on a stock.

Configured as one string (``label_printers`` in config.toml, ``MFG_LABEL_PRINTERS``): routes
separated by ``;``, each ``SELECTOR = COMMAND``, where SELECTOR is ``KIND/STOCK``, ``KIND``,
``STOCK`` or ``*``. The most specific route wins (kind and stock, then kind, then stock, then
``*``); without a match the single ``label_printer`` command is used::

    label_printers = "dose-bag/bag-4x2 = lp -d zebra-cleanroom; cryovial-2x1 = lp -d zebra-vials"
"""

from __future__ import annotations

from mfg.errors import RuleViolation

KINDS = frozenset({"apheresis-bag", "pbmc-vial", "culture", "qc-sample", "dose-bag"})
STOCKS = frozenset({"cryovial-2x1", "bag-4x2", "a4", "letter", "letter-bag"})


def parse_routes(text: str) -> dict[str, str]:
    """``{selector: command}``; a RuleViolation naming the route that is wrong."""
    routes: dict[str, str] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        selector, sep, command = (x.strip() for x in part.partition("="))
        selector = selector.lower()
        kind, slash, stock = selector.partition("/")
        ok = (slash and kind in KINDS and stock in STOCKS) or (
            not slash and (selector in KINDS or selector in STOCKS or selector == "*")
        )
        if not sep or not command or not ok:
            raise RuleViolation(
                "label_printers",
                "printer-route",
                f"{part!r} is not SELECTOR = COMMAND (SELECTOR: kind/stock, kind, stock or *)",
            )
        if selector in routes:
            raise RuleViolation("label_printers", "printer-route", f"{selector!r} is routed twice")
        routes[selector] = command
    return routes


def printer_for(routes: dict[str, str], kind: str, stock: str, default: str) -> str:
    """The command for ``kind`` printed on ``stock`` (``default`` when no route matches)."""
    for selector in (f"{kind}/{stock}", kind, stock, "*"):
        if selector in routes:
            return routes[selector]
    return default
