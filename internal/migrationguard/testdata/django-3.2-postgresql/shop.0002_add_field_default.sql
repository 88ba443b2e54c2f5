BEGIN;
--
-- Add field seats to order
--
ALTER TABLE "shop_order" ADD COLUMN "seats" integer DEFAULT 1 NOT NULL CHECK ("seats" >= 0);
ALTER TABLE "shop_order" ALTER COLUMN "seats" DROP DEFAULT;
COMMIT;
