--
-- Raw SQL operation
--
CREATE UNIQUE INDEX CONCURRENTLY shop_ref_uniq2 ON shop_purchase (ref);
