-- Admin API calls were audited with their whole query, so a search kept
-- the openid, unionid, phone number or nickname searched for, past that
-- person's erasure (SPEC §12). New events leave the values out
-- (`api::admin::call_line`); the events of before lose their query, which
-- is not known to name nobody.
UPDATE audit_events SET detail = substr(detail, 1, instr(detail, '?') - 1) || '?…'
    WHERE kind = 'api_call' AND instr(detail, '?') > 0;
