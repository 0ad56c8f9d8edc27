DROP INDEX rate_limits_full_at_idx;
DROP INDEX login_codes_claimed_at_idx;
