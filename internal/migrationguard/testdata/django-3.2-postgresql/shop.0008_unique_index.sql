BEGIN;
--
-- Alter field ref on order
--
ALTER TABLE "shop_order" ADD CONSTRAINT "shop_order_ref_133f9a7a_uniq" UNIQUE ("ref");
CREATE INDEX "shop_order_ref_133f9a7a_like" ON "shop_order" ("ref" varchar_pattern_ops);
COMMIT;
