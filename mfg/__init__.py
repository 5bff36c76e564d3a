"""CellTrail: GMP lot tracking for autologous CAR-T manufacturing.

This package stays light on import: the CLI, reports, PDFs and the TUI load their heavy
dependencies (pandas, reportlab, textual) only where they are used.
"""

__version__ = "0.1.0"
