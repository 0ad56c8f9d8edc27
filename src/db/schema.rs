//! The tables, written by hand with only the SQL types both backends share
//! (times are Unix seconds in `BigInt`).

diesel::table! {
    apps (appid) {
        appid -> Text,
        name -> Text,
        created_at -> BigInt,
        platform -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        nickname -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        gender -> Nullable<Integer>,
        language -> Nullable<Text>,
        city -> Nullable<Text>,
        province -> Nullable<Text>,
        country -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        pure_phone_number -> Nullable<Text>,
        country_code -> Nullable<Text>,
        banned_at -> Nullable<BigInt>,
        ban_reason -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
        merged_into -> Nullable<BigInt>,
        deletion_requested_at -> Nullable<BigInt>,
        delete_after -> Nullable<BigInt>,
    }
}

diesel::table! {
    identities (id) {
        id -> BigInt,
        user_id -> BigInt,
        platform -> Text,
        appid -> Text,
        openid -> Text,
        unionid -> Nullable<Text>,
        anonymous -> Bool,
        created_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
        holds_unionid -> Nullable<Bool>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        appid -> Text,
        session_key_sealed -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoke_reason -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        refresh_gen -> BigInt,
        refreshed_at -> Nullable<BigInt>,
        cookie_hash -> Nullable<Text>,
        identity_id -> BigInt,
        client_id -> Nullable<Text>,
        scope -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        kind -> Text,
        user_id -> Nullable<BigInt>,
        session_id -> Nullable<Text>,
        actor -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::joinable!(identities -> users (user_id));
diesel::joinable!(identities -> apps (appid));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> identities (identity_id));
diesel::allow_tables_to_appear_in_same_query!(apps, users, identities, sessions, audit_events);

diesel::table! {
    admins (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        role -> Text,
        totp_secret -> Nullable<Text>,
        totp_pending_secret -> Nullable<Text>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_signin_delays (username) {
        username -> Text,
        answer_at_ms -> BigInt,
    }
}

diesel::table! {
    admin_recovery_codes (id) {
        id -> BigInt,
        admin_id -> BigInt,
        code_hash -> Text,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_sign_in_challenges (id) {
        id -> Text,
        admin_id -> Nullable<BigInt>,
        event_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    admin_sessions (id) {
        id -> Text,
        admin_id -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::joinable!(admin_sessions -> admins (admin_id));
diesel::joinable!(admin_recovery_codes -> admins (admin_id));
diesel::joinable!(admin_sign_in_challenges -> admins (admin_id));
diesel::allow_tables_to_appear_in_same_query!(
    admins,
    admin_sessions,
    admin_recovery_codes,
    admin_sign_in_challenges
);

diesel::table! {
    wechat_access_tokens (appid) {
        appid -> Text,
        token_sealed -> Nullable<Text>,
        expires_at -> BigInt,
        refreshing_until -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    login_codes (appid, code_hash) {
        appid -> Text,
        code_hash -> Text,
        claimed_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        openid -> Nullable<Text>,
        unionid -> Nullable<Text>,
        session_key_sealed -> Nullable<Text>,
        error_code -> Nullable<Integer>,
        error_message -> Nullable<Text>,
        anonymous_openid -> Nullable<Text>,
    }
}

// An erasure forgets the login codes of the person's identities.
diesel::allow_tables_to_appear_in_same_query!(identities, login_codes);

diesel::table! {
    instances (id) {
        id -> Text,
        seen_at -> BigInt,
        joined_at -> BigInt,
        acknowledged -> BigInt,
    }
}

diesel::table! {
    rate_limits (limiter, bucket) {
        limiter -> Text,
        bucket -> Text,
        full_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        name -> Text,
        scope -> Text,
        key_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_outbox (id) {
        id -> BigInt,
        event_id -> Text,
        event_type -> Text,
        endpoint -> Text,
        body -> Text,
        created_at -> BigInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        leased_until -> Nullable<BigInt>,
        lease_token -> Nullable<Text>,
        delivered_at -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        last_status -> Nullable<Integer>,
        last_answer -> Nullable<Text>,
        user_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    web_logins (id) {
        id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        browser_hash -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        scanned_by -> Nullable<BigInt>,
        scanned_session -> Nullable<Text>,
        scanned_at -> Nullable<BigInt>,
        decision -> Nullable<Text>,
        decided_at -> Nullable<BigInt>,
        code_hash -> Nullable<Text>,
        code_expires_at -> Nullable<BigInt>,
        code_used_at -> Nullable<BigInt>,
        session_id -> Nullable<Text>,
        qr_png -> Nullable<Binary>,
    }
}
