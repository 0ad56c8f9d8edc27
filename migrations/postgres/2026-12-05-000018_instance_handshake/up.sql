-- An instance that starts does not serve until every instance alive on this
-- database has seen it (SPEC §1.3: the same code on two instances is
-- exchanged once from the first request). `joined_at` is when it started
-- (Unix ms, its own clock); `acknowledged` is the newest `joined_at` among
-- the others that this instance has seen and shares its codes and limits
-- with. A starting instance waits until each other's `acknowledged` reaches
-- its `joined_at`. Instances of an earlier release leave both at 0: the new
-- one waits for them a few seconds only.
ALTER TABLE instances ADD COLUMN joined_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN acknowledged BIGINT NOT NULL DEFAULT 0;
