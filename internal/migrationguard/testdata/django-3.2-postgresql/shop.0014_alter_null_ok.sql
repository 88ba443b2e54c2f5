BEGIN;
--
-- Alter field coupon on purchase
--
ALTER TABLE "shop_purchase" ALTER COLUMN "coupon" TYPE varchar(40);
COMMIT;
