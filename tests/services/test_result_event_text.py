"""An import's ``result.imported`` events: the text of their values, built once per distinct
result with the file row put in (``import_events.ResultJson``), is exactly
``canonical_json`` of those values, whatever the result holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mfg.domain.canonical import canonical_json
from mfg.services.import_events import ResultJson, result_event_values

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30
) | st.sampled_from(['"file_row":-7291054003', '\\"file_row\\":1', "µg/mL", "No growth", ""])
_NUM = (
    st.none()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1e-5, 5e-324, -7291054003.0, 92.5])
)


@st.composite
def _results(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "test_code": draw(st.sampled_from(["VIAB", "ENDO", "STER", "CD3"])),
        "value_text": draw(_TEXT),
        "value_num": draw(_NUM),
        "qualifier": draw(st.sampled_from(["", "<", ">"])),
        "unit": draw(_TEXT),
        "evaluation": draw(st.sampled_from(["pass", "fail", "pending"])),
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_results(), st.integers(2, 10**7)), min_size=1, max_size=8))
def test_the_kept_text_is_canonical_json_of_the_values(rows: list[tuple[dict, int]]) -> None:
    memo = ResultJson()
    parsed = [object() for _ in rows]  # one parsed result a row: each kept by identity
    for (v, line), p in zip(rows, parsed, strict=True):
        assert memo.text(v["test_code"], p, v, line) == canonical_json(result_event_values(v, line))
        # asked again for another row of the same result: the kept text, that row in it
        assert memo.text(v["test_code"], p, v, line + 1) == canonical_json(
            result_event_values(v, line + 1)
        )
