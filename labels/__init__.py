"""Labels: content per label kind, the QR payload codec, and PDF / PNG / ZPL II renderers.

Pure: takes plain label dataclasses and returns bytes. Knows nothing of tables or sessions (an
import-linter contract forbids ``mfg.store``, ``mfg.services``, SQLAlchemy and SQLModel here).
Import the submodule you need (``labels.payload``, ``labels.content``, ``labels.render``).
"""
