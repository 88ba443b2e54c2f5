BEGIN;
--
-- Alter field comment on order
--
ALTER TABLE "shop_order" ALTER COLUMN "comment" SET NOT NULL;
COMMIT;
