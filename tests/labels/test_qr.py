"""The QR mask choice made with numpy agrees with the qrcode package, module for module."""

from __future__ import annotations

import numpy as np
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode import util
from qrcode.constants import ERROR_CORRECT_M

from labels.qr import _penalties, candidates, qr_matrix, runs

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(ALNUM, min_size=1, max_size=200), st.text(min_size=1, max_size=40)))
def test_every_candidate_and_penalty_is_what_qrcode_makes(payload):
    version, symbols = candidates(payload)
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(payload)
    code.make(fit=True)
    assert code.version == version  # the smallest version that holds it
    penalties = _penalties(symbols)
    for k in range(8):
        code.makeImpl(False, k)
        assert np.array_equal(np.array(code.modules, dtype=bool), symbols[k]), k
        assert penalties[k] == util.lost_point(code.modules), k
    chosen = np.array(qr_matrix(payload), dtype=bool)
    assert np.array_equal(chosen, symbols[int(np.argmin(penalties))])


def test_runs():
    assert runs((True, True, False, True, False, False, True)) == [(0, 2), (3, 1), (6, 1)]
    assert runs((False,) * 3) == []
