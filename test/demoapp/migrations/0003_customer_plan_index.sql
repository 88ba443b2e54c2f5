CREATE INDEX accounts_customer_plan_idx ON accounts_customer (plan);
