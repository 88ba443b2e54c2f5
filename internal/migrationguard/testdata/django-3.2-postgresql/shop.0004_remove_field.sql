BEGIN;
--
-- Remove field legacy from order
--
ALTER TABLE "shop_order" DROP COLUMN "legacy" CASCADE;
COMMIT;
