-- Which person holds a platform's unionid moves from a table of its own into
-- the identity that brought it: a new person's first login then writes one
-- random index page for its unionid where it wrote two (the identity's
-- unionid index and the claim's key), which is most of what people had cost
-- `authorize` (docs/performance.md).
--
-- `holds_unionid` is TRUE on the identity holding its (platform, unionid)
-- for its person, NULL on every other identity: the unique key compares the
-- holders only (NULLs are distinct in a unique index, on both backends), and
-- the same index finds every identity carrying a unionid by its prefix.
ALTER TABLE identities ADD COLUMN holds_unionid BOOLEAN CHECK (holds_unionid);
-- The holder is the holding person's oldest identity carrying the unionid.
UPDATE identities SET holds_unionid = TRUE
WHERE id IN (SELECT MIN(i.id) FROM identities i
             JOIN unionids c ON c.platform = i.platform AND c.unionid = i.unionid
                            AND c.user_id = i.user_id
             GROUP BY i.platform, i.unionid);
DROP INDEX identities_unionid_idx;
CREATE UNIQUE INDEX identities_unionid_key ON identities (platform, unionid, holds_unionid)
    WHERE unionid IS NOT NULL;
DROP TABLE unionids;
