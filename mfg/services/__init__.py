"""Use cases: the only API the CLI and the TUI call.

Each write: check the role, validate (domain), write, append the audit event, commit -- in ONE
transaction. Reads return plain frozen read models, never rows bound to a session.
"""
