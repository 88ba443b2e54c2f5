BEGIN;
--
-- Create constraint shop_comment_uniq on model purchase
--
ALTER TABLE "shop_purchase" ADD CONSTRAINT "shop_comment_uniq" UNIQUE ("comment");
COMMIT;
