BEGIN;
--
-- Create index shop_coupon_idx on field(s) coupon of model purchase
--
CREATE INDEX "shop_coupon_idx" ON "shop_purchase" ("coupon");
COMMIT;
