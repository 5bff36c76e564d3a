"""Help: the keys of every screen and what the screens are for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

HELP = """\
# CellTrail keys

Keyboard first: every action has a key; **ctrl+p** opens the command palette, which lists them.
A barcode scanner can be used on any screen: scanning a lot or bag label opens it.

| anywhere | |
|---|---|
| F1 | this help |
| ctrl+p | command palette (all actions) |
| ctrl+o | scan or type a code: lot number, COI, label QR |
| ctrl+b | lot board |
| ctrl+q | quit |

| lot board | |
|---|---|
| up/down, enter | choose a lot, open it |
| / | search (lot number, COI, subject); esc clears |
| f / s / o | filter by state / filter by site / change the sort |
| n | register a lot |
| c / h | add a count / record the harvest of the selected lot |
| q / p | QA queue / reports |

| lot detail | |
|---|---|
| tab, left/right | switch between Growth, Release, Bags, Audit |
| c / x | add a count / correct the selected count (asks a reason) |
| h | record the harvest |
| e / v | enter a release result / verify the selected result (another person) |
| d | disposition: release, conditional release or reject, with e-signature (QA) |
| t | custody step on the selected bag (store, issue, thaw, infuse, discard), confirmed by scanning its label |
| l / k | print labels / issue the COA (PDF in $MFG_HOME/labels, $MFG_HOME/coa) |
| esc | back |

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

Errors appear under the field they concern, with the rule name in brackets, exactly as `mfg`
prints them. Nothing is saved until you confirm. Corrections never delete: the original stays
visible, marked as corrected, with your reason in the audit trail.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
        yield Footer()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
