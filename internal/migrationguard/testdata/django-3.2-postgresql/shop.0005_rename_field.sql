BEGIN;
--
-- Rename field note on order to comment
--
ALTER TABLE "shop_order" RENAME COLUMN "note" TO "comment";
COMMIT;
