BEGIN;
--
-- Create model Order
--
CREATE TABLE "shop_order" ("id" bigserial NOT NULL PRIMARY KEY, "ref" varchar(20) NOT NULL, "note" text NULL, "qty" integer NOT NULL, "legacy" varchar(10) NULL);
--
-- Create model Old
--
CREATE TABLE "shop_old" ("id" bigserial NOT NULL PRIMARY KEY);
COMMIT;
