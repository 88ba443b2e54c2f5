BEGIN;
--
-- Remove field parent from purchase
--
ALTER TABLE "shop_purchase" DROP COLUMN "parent_id" CASCADE;
COMMIT;
