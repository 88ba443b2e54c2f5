BEGIN;
--
-- Add field coupon to order
--
ALTER TABLE "shop_order" ADD COLUMN "coupon" varchar(20) NULL;
COMMIT;
