-- Audit log and API keys on PostgreSQL. Idempotent: run at every start, under the
-- chain's advisory lock. For tamper resistance run the service as a role that does
-- not own these tables (an owner can drop the triggers); the hash chain proves the rest.
CREATE TABLE IF NOT EXISTS audit_records (
    sequence    BIGINT PRIMARY KEY CHECK (sequence >= 1),
    decision_id TEXT NOT NULL UNIQUE,
    recorded_at TIMESTAMPTZ NOT NULL,
    prev_hash   CHAR(64) NOT NULL UNIQUE,
    hash        CHAR(64) NOT NULL UNIQUE,
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_recorded_at ON audit_records (recorded_at);
CREATE OR REPLACE FUNCTION jifen_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_records is append-only: % rejected', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER audit_records_append_only
    BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION jifen_audit_append_only();
CREATE OR REPLACE TRIGGER audit_records_no_truncate
    BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_audit_append_only();
CREATE TABLE IF NOT EXISTS api_keys (
    key_id        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('scorer', 'auditor', 'admin')),
    secret_sha256 CHAR(64) NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);
