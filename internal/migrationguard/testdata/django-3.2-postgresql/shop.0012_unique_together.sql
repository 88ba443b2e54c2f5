BEGIN;
--
-- Alter unique_together for purchase (1 constraint(s))
--
ALTER TABLE "shop_purchase" ADD CONSTRAINT "shop_purchase_ref_coupon_f01556f8_uniq" UNIQUE ("ref", "coupon");
COMMIT;
