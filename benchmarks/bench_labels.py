"""Benchmark: a 1,000-label PDF sheet (goal: under 3 s), and the other outputs per label.

Run on demand (never in the test suite):

    .venv/bin/python benchmarks/bench_labels.py               # 1,000 labels, median of 5 runs
    .venv/bin/python benchmarks/bench_labels.py --labels 200 --repeat 3

Each run renders 1,000 *different* labels (a distinct lot, COI and payload each, so nothing is
served from the QR cache) with the caches cleared first: dose-bag labels on ``letter-bag`` sheets
(10 a page) and PBMC-vial labels on ``a4`` sheets (30 a page). Also timed: the same labels as ZPL
and as 300-dpi PNG previews, the QR matrices alone, and payload decode + verify.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labels import (  # noqa: E402
    content,
    layout,
    layouts,
    qr,
)
from labels.content import Label  # noqa: E402
from labels.payload import LabelKind, LabelRef, decode, encode  # noqa: E402
from labels.render import render  # noqa: E402
from labels.stocks import STOCKS  # noqa: E402
from mfg.domain.ids import coi  # noqa: E402

GOAL_S = 3.0
KEY = "benchmark-site-key"


def make_labels(n: int, kind: LabelKind) -> list[Label]:
    out: list[Label] = []
    for i in range(n):
        lot = f"BH002-26-{i + 1:04d}"
        c = coi("A9990", 26, i + 1)
        codes = layouts.product_codes("BH002")
        common: dict[str, object] = {
            "product_name": "BH002 injection, CD19-BCMA CAR-T cells",
            "product_short": "BH002",
            "lot_number": lot,
            "coi": c.content,
            "subject_id": f"S-{i + 1:04d}",
            "initials": "AB",
            "dob": date(1988, 4, 2),
            "facility": "CellTrail GMP Facility",
        }
        if kind is LabelKind.DOSE_BAG:
            bag, of = i % 4 + 1, 4
            out.append(
                content.DoseBagLabel(
                    payload=encode(LabelRef(kind, lot, c.content, bag, of), KEY),
                    isbt128=layouts.isbt_message(
                        c, codes, kind, lot, bag_no=bag, expires_on=date(2027, 11, 25)
                    )[0],
                    bag_no=bag,
                    bag_count=of,
                    volume_ml=50.0,
                    car_viable_cells=225_000_000,
                    cryopreserved_on=date(2026, 11, 25),
                    expires_on=date(2027, 11, 25),
                    storage="Store <= -150 °C, vapour phase of liquid nitrogen",
                    **common,  # type: ignore[arg-type]
                )
            )
        else:
            out.append(
                content.PbmcVialLabel(
                    payload=encode(LabelRef(kind, lot, c.content), KEY),
                    isbt128=layouts.isbt_message(
                        c, codes, kind, lot, collected_on=date(2026, 11, 14)
                    )[0],
                    collected_on=date(2026, 11, 14),
                    **common,  # type: ignore[arg-type]
                )
            )
    return out


def clear_caches() -> None:
    qr.qr_matrix.cache_clear()
    layout._unit_width.cache_clear()


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median wall-clock and median CPU seconds of ``repeat`` runs (CPU time is what the
    process itself used: on a shared, loaded machine it is the steadier figure)."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        clear_caches()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from benchmarks.machine import header

    started = header()  # the machine as the run begins
    n, rep = args.labels, args.repeat
    bags, vials = make_labels(n, LabelKind.DOSE_BAG), make_labels(n, LabelKind.PBMC_VIAL)
    layout.register_fonts()  # one-off font loading is not part of a sheet
    rows: list[tuple[str, float, float, str]] = []

    def add(
        name: str, fn: Callable[[], object], extra: Callable[[object], str]
    ) -> tuple[float, float]:
        t, c, result = timed(fn, rep)
        rows.append((name, t, c, extra(result)))
        return t, c

    pdf_bags = add(
        f"PDF, {n} dose-bag labels, letter-bag sheets",
        lambda: render(bags, STOCKS["letter-bag"], "pdf"),
        lambda b: f"{len(b) / 1e6:.2f} MB",  # type: ignore[arg-type]
    )
    pdf_vials = add(
        f"PDF, {n} PBMC-vial labels, a4 sheets",
        lambda: render(vials, STOCKS["a4"], "pdf"),
        lambda b: f"{len(b) / 1e6:.2f} MB",  # type: ignore[arg-type]
    )
    add(
        f"ZPL, {n} dose-bag labels (203 dpi)",
        lambda: render(bags, STOCKS["bag-4x2"], "zpl"),
        lambda b: f"{len(b) / 1e3:.0f} kB",  # type: ignore[arg-type]
    )
    m = min(n, 100)
    add(
        f"PNG 300 dpi, {m} dose-bag labels",
        lambda: render(bags[:m], STOCKS["bag-4x2"], "png", dpi=300),
        lambda b: f"{len(b) / 1e6:.2f} MB",  # type: ignore[arg-type]
    )
    add(
        f"QR matrices only, {n}",
        lambda: [qr.qr_matrix(lb.payload) for lb in bags],
        lambda r: f"version {(len(r[0]) - 17) // 4}",  # type: ignore[index]
    )
    add(
        f"decode + verify (HMAC), {n} payloads",
        lambda: [decode(lb.payload, KEY) for lb in bags],
        lambda r: "",
    )
    print(started)
    print(f"bench_labels: median of {rep} runs")
    print(f"{'what':<46} {'wall s':>8} {'CPU s':>8} {'ms/label':>9}  note")
    for name, t, c, note in rows:
        count = m if name.startswith("PNG") else n
        print(f"{name:<46} {t:>8.3f} {c:>8.3f} {t / count * 1000:>9.2f}  {note}")
    scale = 1000 / n
    for name, (t, c) in (("dose bags", pdf_bags), ("PBMC vials", pdf_vials)):
        print(
            f"1,000-label PDF ({name}): {t * scale:.2f} s wall = {t * scale / GOAL_S:.2f} x "
            f"the {GOAL_S:g} s goal (CPU {c * scale:.2f} s)" + ("" if n == 1000 else ", scaled")
        )
    try:
        import os

        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass


if __name__ == "__main__":
    main()
