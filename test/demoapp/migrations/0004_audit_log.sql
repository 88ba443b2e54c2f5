CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    actor       text NOT NULL,
    action      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_log (actor, action) VALUES ('system', 'audit log enabled');
