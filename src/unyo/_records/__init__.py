"""What is kept: the store (SQLite / PostgreSQL), ledger, audit log and masking, response cache,
private output files."""
