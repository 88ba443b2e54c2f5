BEGIN;
--
-- Raw SQL operation
--
ALTER TABLE shop_purchase DROP COLUMN seats;
COMMIT;
