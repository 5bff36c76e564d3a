"""The trial's indications (NCT06350110 and the sponsor's autoimmune programme), as typed."""

from __future__ import annotations

from mfg.errors import RuleViolation

INDICATIONS = {
    "SLE": "Systemic lupus erythematosus",
    "LN": "Lupus nephritis",
    "SSC": "Systemic sclerosis",
    "SJS": "Sjogren's syndrome",
    "AAV": "ANCA-associated vasculitis (GPA/MPA)",
    "IIM": "Idiopathic inflammatory myopathies",
}
INDICATION_SPELLING = {
    "SLE": "SLE",
    "LN": "LN",
    "SSC": "SSc",
    "SJS": "SjS",
    "AAV": "AAV",
    "IIM": "IIM",
}


def check_indication(text: str) -> str:
    key = text.strip().upper()
    if key not in INDICATIONS:
        raise RuleViolation(
            "indication",
            "unknown-indication",
            f"{text!r} is not one of {', '.join(INDICATION_SPELLING.values())}",
        )
    return INDICATION_SPELLING[key]


__all__ = ["INDICATIONS", "INDICATION_SPELLING", "check_indication"]
