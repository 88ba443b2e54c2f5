BEGIN;
--
-- Add field parent to purchase
--
ALTER TABLE "shop_purchase" ADD COLUMN "parent_id" bigint NULL CONSTRAINT "shop_purchase_parent_id_087ee71e_fk_shop_purchase_id" REFERENCES "shop_purchase"("id") DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "shop_purchase_parent_id_087ee71e_fk_shop_purchase_id" IMMEDIATE;
CREATE INDEX "shop_purchase_parent_id_087ee71e" ON "shop_purchase" ("parent_id");
COMMIT;
