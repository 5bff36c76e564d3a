#!/usr/bin/env bash
# Until the first release, the schema is one migration, 0001_initial, regenerated from the models.
# After a release, add migrations with `alembic revision --autogenerate` instead; never edit one
# that a site may have applied.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
tmp=$(mktemp -d)
rm -f mfg/store/migrations/versions/0001_initial.py
$PY - "$tmp" <<'PYEOF'
import sys
from alembic import command
from mfg.store.db import alembic_config
url = f"sqlite:///{sys.argv[1]}/empty.db"
command.revision(alembic_config(url), message="initial", autogenerate=True, rev_id="0001")
PYEOF
mv mfg/store/migrations/versions/0001_initial.py mfg/store/migrations/versions/0001_initial.py 2>/dev/null || true
.venv/bin/ruff format -q mfg/store/migrations/versions/ && .venv/bin/ruff check -q --fix mfg/store/migrations/versions/ || true
rm -rf "$tmp"
echo "regenerated mfg/store/migrations/versions/0001_initial.py"
