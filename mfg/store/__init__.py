"""Persistence only: tables, engine, migrations."""
