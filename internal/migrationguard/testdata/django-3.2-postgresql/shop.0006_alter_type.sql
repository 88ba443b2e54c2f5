BEGIN;
--
-- Alter field qty on order
--
ALTER TABLE "shop_order" ALTER COLUMN "qty" TYPE bigint USING "qty"::bigint;
COMMIT;
