BEGIN;
--
-- Rename model Order to Purchase
--
ALTER TABLE "shop_order" RENAME TO "shop_purchase";
COMMIT;
