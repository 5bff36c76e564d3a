"""Alembic environment: targets SQLModel.metadata; batch mode on SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import mfg.store.tables  # noqa: F401  (registers the tables on the metadata)
from mfg.store.partial import for_postgresql

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        for_postgresql()  # the partial indexes' predicates (see there)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
