"""Help: the keys of every screen and what the screens are for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from tui.widgets.footer import footer

HELP = """\
# CellTrail keys

Keyboard first: every action has a key; **ctrl+p** opens the command palette, which lists them.
The footer shows the keys your role can use here, most important first.
A barcode scanner can be used on any screen: scanning a lot or bag label opens it. A scan never
types into a form or fires a key: it is told from typing by its speed (every key within 50 ms).
Under an open form a scan is refused: finish or close the form first. **F3** tests a scanner.

| anywhere | |
|---|---|
| F1 | this help |
| F2 | Today: what to do now, and what others changed since your last action |
| F3 | scanner setup: scan a label, see what to change on the scanner |
| ctrl+p | command palette (all actions) |
| ctrl+o | scan or type a code: lot number, COI, label QR |
| ctrl+b | lot board |
| ctrl+q | quit |

| lot board | |
|---|---|
| up/down, enter | choose a lot, open it |
| / | search (lot number, COI, subject); esc clears |
| f / s / o / O | filter by state / filter by site / change the sort / reverse it |
| t | Today |
| n | register a lot |
| c / h | add a count / record the harvest of the selected lot |
| q / p | QA queue / reports |

| lot detail | |
|---|---|
| 1 2 3 4 | Growth, Release, Bags, Audit (the arrows move in the table) |
| c / x | add a count / correct the selected count (asks a reason) |
| h | record the harvest |
| e / v | enter a release result / verify the selected result (another person) |
| d | disposition: release, conditional release or reject, with e-signature (QA) |
| t | custody step on the selected bag (store, issue, thaw, infuse, discard), confirmed by scanning its label |
| l / k | print labels / issue the COA (to the configured printers; a copy in $MFG_HOME) |
| a | QA: acknowledge the lot's alerts (what was done) |
| w / z | QA: open a deviation / close one |
| ctrl+t | QA: terminate the lot (cause, reason) |
| esc, ctrl+b | back / to the board |

Board flags: **NOT READ** the lot's specification, dose or a stored value could not be read:
the Projection column says why, QA's record check names the record; **ALERT** open alert, **OOS** out of specification, **late** count overdue,
**U2** two results to verify, **P3** three results pending. Harv: the projected (or harvest)
day, green when the dose is met, red with **!** when it is not.

| QA queue, reports | |
|---|---|
| enter | open the lot |
| v | QA queue: verify the selected result (never your own entry) |
| g / u | reports: next stratum / per lot or per subject |

| forms | |
|---|---|
| tab, enter | next field; enter on the last field checks the form |
| ctrl+s | check the form and show the derived values |
| enter (confirmation) | save; esc goes back to edit |
| esc (filled form) | asks before discarding what you typed |

A form never moves the cursor by itself: a message appears under the field it concerns, and
only Enter, Tab or the arrows move you. Yellow **CHECK** lines are plausibility warnings (a
second count the same day, more than ten-fold in two days, viability down more than 20 points):
look again; Enter saves anyway.

Errors appear under the field they concern, with the rule name in brackets, exactly as `mfg`
prints them. Nothing is saved until you confirm. Corrections never delete: the original stays
visible, marked as corrected, with your reason in the audit trail.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
        yield footer()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
