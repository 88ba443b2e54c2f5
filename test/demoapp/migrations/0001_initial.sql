CREATE TABLE accounts_customer (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    plan        text NOT NULL DEFAULT 'free',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE billing_invoice (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES accounts_customer(id),
    amount_cents integer NOT NULL,
    issued_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO accounts_customer (name, email, plan) VALUES
    ('Acme Corp', 'billing@acme.example', 'enterprise'),
    ('Globex', 'ops@globex.example', 'pro'),
    ('Initech', 'it@initech.example', 'free');
INSERT INTO billing_invoice (customer_id, amount_cents)
    SELECT id, 4900 FROM accounts_customer WHERE plan <> 'free';
