ALTER TABLE billing_invoice ADD COLUMN status text NOT NULL DEFAULT 'open';
UPDATE billing_invoice SET status = 'paid';
