-- Audit log and API keys on SQLite. Idempotent: run at every start.
-- The triggers stop accidents; the hash chain is what proves integrity.
CREATE TABLE IF NOT EXISTS audit_records (
    sequence    INTEGER PRIMARY KEY CHECK (sequence >= 1),
    decision_id TEXT NOT NULL UNIQUE,
    recorded_at TEXT NOT NULL,
    prev_hash   TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL UNIQUE,
    body        TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_records_recorded_at ON audit_records (recorded_at);
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only: UPDATE rejected'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only: DELETE rejected'); END;
CREATE TABLE IF NOT EXISTS api_keys (
    key_id        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('scorer', 'auditor', 'admin')),
    secret_sha256 TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
) STRICT;
-- Lanes (chains in files of their own, one per appending process) beyond lane 0, which is
-- this file. Used in the main file only; lane files carry the same schema.
CREATE TABLE IF NOT EXISTS audit_lanes (
    lane       INTEGER PRIMARY KEY CHECK (lane >= 1),
    created_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_lanes_no_update BEFORE UPDATE ON audit_lanes
BEGIN SELECT RAISE(ABORT, 'audit_lanes is append-only: UPDATE rejected'); END;
CREATE TRIGGER IF NOT EXISTS audit_lanes_no_delete BEFORE DELETE ON audit_lanes
BEGIN SELECT RAISE(ABORT, 'audit_lanes is append-only: DELETE rejected'); END;
