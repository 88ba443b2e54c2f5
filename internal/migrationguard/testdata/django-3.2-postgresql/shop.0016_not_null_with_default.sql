BEGIN;
--
-- Alter field coupon on purchase
--
ALTER TABLE "shop_purchase" ALTER COLUMN "coupon" SET DEFAULT '';
UPDATE "shop_purchase" SET "coupon" = '' WHERE "coupon" IS NULL;
ALTER TABLE "shop_purchase" ALTER COLUMN "coupon" SET NOT NULL;
ALTER TABLE "shop_purchase" ALTER COLUMN "coupon" DROP DEFAULT;
COMMIT;
