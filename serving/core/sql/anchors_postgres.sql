-- Published audit anchors (serving.core.anchors), in a database other than the audit log's.
-- Idempotent: run under an advisory lock by the first publisher. The triggers stop
-- accidents; the signatures are what prove an anchor was published by the service.
CREATE TABLE IF NOT EXISTS audit_anchors (
    id           BIGSERIAL PRIMARY KEY,
    log          TEXT NOT NULL,
    lane         INTEGER NOT NULL CHECK (lane >= 0),
    sequence     BIGINT NOT NULL CHECK (sequence >= 1),
    hash         CHAR(64) NOT NULL,
    published_at TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    signature    TEXT NOT NULL,
    format       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_anchors_newest ON audit_anchors (log, lane, sequence DESC);
CREATE TABLE IF NOT EXISTS audit_anchor_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION jifen_anchors_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP;
END $$;
CREATE OR REPLACE TRIGGER audit_anchors_append_only
    BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION jifen_anchors_append_only();
CREATE OR REPLACE TRIGGER audit_anchors_no_truncate
    BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_anchors_append_only();
CREATE OR REPLACE TRIGGER audit_anchor_keys_append_only
    BEFORE UPDATE OR DELETE ON audit_anchor_keys
    FOR EACH ROW EXECUTE FUNCTION jifen_anchors_append_only();
CREATE OR REPLACE TRIGGER audit_anchor_keys_no_truncate
    BEFORE TRUNCATE ON audit_anchor_keys
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_anchors_append_only();
