BEGIN;
--
-- Delete model Old
--
DROP TABLE "shop_old" CASCADE;
COMMIT;
