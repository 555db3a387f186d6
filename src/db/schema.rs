// The schema both backends share; keep in step with migrations/sqlite and migrations/postgres.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        max_lifetime_days -> Nullable<Integer>,
        require_expiry -> Bool,
        approval_modules -> Text,
        require_allowed_networks -> Bool,
        default_rate_limit -> Nullable<Integer>,
        require_2fa -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        account_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        active -> Bool,
        last_sign_in_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        sign_in_method -> Nullable<Text>,
    }
}

diesel::table! {
    /// Each user's authenticator-app secret (sealed) and last accepted step. See
    /// `db::two_factor`.
    totp_secrets (user_id) {
        user_id -> Text,
        secret_ciphertext -> Binary,
        enabled_at -> Timestamp,
        last_used_step -> BigInt,
    }
}

diesel::table! {
    /// Each user's single-use recovery codes, as keyed digests. See `db::two_factor`.
    recovery_codes (user_id, code_digest) {
        user_id -> Text,
        code_digest -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sign_in_attempts (key) {
        key -> Text,
        attempts -> Integer,
        window_started_at -> Timestamp,
    }
}

diesel::table! {
    tokens (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        description -> Text,
        external_id -> Text,
        extension_id -> Text,
        status -> Text,
        secret_digest -> Text,
        secret_ciphertext -> Binary,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by_id -> Text,
        created_by_name -> Text,
        updated_at -> Timestamp,
        updated_by_id -> Text,
        updated_by_name -> Text,
        deleted_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        creation_key -> Nullable<Text>,
        previous_secret_digest -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        allowed_networks -> Text,
        rate_limit -> Nullable<Integer>,
        owner_id -> Text,
        owner_name -> Text,
        awaiting_approval -> Bool,
        lifetime_seconds -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// What members asked an admin for, and what was decided. See `db::approvals`.
    approval_requests (id) {
        id -> BigInt,
        account_id -> Text,
        token_id -> Text,
        kind -> Text,
        modules -> Text,
        reason -> Text,
        requested_by_id -> Text,
        requested_by_name -> Text,
        requested_at -> Timestamp,
        decision -> Nullable<Text>,
        note -> Nullable<Text>,
        decided_by_id -> Nullable<Text>,
        decided_by_name -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// What the app tells each user. See `db::notifications`.
    notifications (id) {
        id -> BigInt,
        account_id -> Text,
        user_id -> Text,
        topic -> Text,
        kind -> Text,
        token_id -> Nullable<Text>,
        message -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
        mailed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Each user's mail digest of a day. See `db::notifications`.
    mail_digests (user_id, day) {
        user_id -> Text,
        day -> Date,
        claimed_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    token_usage (token_id, day) {
        token_id -> Text,
        day -> Date,
        requests -> BigInt,
        refused -> BigInt,
        /// Requests that named the token and did not authenticate.
        failed_auth -> BigInt,
    }
}

diesel::table! {
    token_usage_hourly (token_id, hour) {
        token_id -> Text,
        hour -> Timestamp,
        requests -> BigInt,
        refused -> BigInt,
    }
}

diesel::table! {
    /// API requests per token, module and UTC day, with the day's last use. See
    /// `db::module_usage`.
    token_module_usage (token_id, module_id, day) {
        token_id -> Text,
        module_id -> Text,
        day -> Date,
        requests -> BigInt,
        last_used_at -> Timestamp,
    }
}

diesel::table! {
    token_permissions (token_id, module_id) {
        token_id -> Text,
        module_id -> Text,
        granted_at -> Timestamp,
        granted_by_id -> Text,
        granted_by_name -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        account_id -> Text,
        kind -> Text,
        actor_id -> Text,
        actor_name -> Text,
        token_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    agreements (id) {
        id -> Text,
        account_id -> Text,
        agreement_type -> Text,
        title -> Text,
        name -> Text,
        description -> Text,
        active -> Bool,
        created_at -> Timestamp,
        created_by_id -> Text,
        created_by_name -> Text,
        updated_at -> Timestamp,
        updated_by_id -> Text,
        updated_by_name -> Text,
    }
}

diesel::joinable!(users -> accounts (account_id));
diesel::table! {
    passkeys (id) {
        id -> BigInt,
        user_id -> Text,
        name -> Text,
        credential -> Text,
        credential_id -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// SQLite only: what the triggers record of every change an API key depends on, for each
    /// instance to read (PostgreSQL notifies instead). See `db::key_changes`.
    key_changes (seq) {
        seq -> BigInt,
        token_id -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    /// One row per write to an account's tokens or their permissions, added by triggers; the
    /// sum of an account's weights is its token version. See `db::token_versions`.
    token_writes (seq) {
        seq -> BigInt,
        account_id -> Text,
        weight -> BigInt,
    }
}

diesel::table! {
    /// Requests of a rate-limited key let through per UTC minute (since the epoch), per
    /// instance. See `live::rates`.
    rate_counts (token_id, minute, instance) {
        token_id -> Text,
        minute -> BigInt,
        instance -> Text,
        requests -> Integer,
    }
}

diesel::table! {
    /// The instances alive, each saying so at every exchange. See `live::rates`.
    rate_instances (instance) {
        instance -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    /// Each batch of recorded API use written, by its id. See `db::usage`.
    usage_batches (id) {
        id -> Text,
        written_at -> Timestamp,
    }
}

diesel::table! {
    /// Each form that acts, by its one-time id, and where a second sending goes. See
    /// `db::submitted_forms`.
    submitted_forms (form_id) {
        form_id -> Text,
        account_id -> Text,
        result -> Text,
        submitted_at -> Timestamp,
    }
}

diesel::table! {
    /// Each API POST sent with an Idempotency-Key, and its first answer (sealed). See
    /// `db::idempotency`.
    idempotency_keys (account_id, key) {
        account_id -> Text,
        key -> Text,
        fingerprint -> Text,
        status -> Integer,
        answer -> Binary,
        created_at -> Timestamp,
    }
}

diesel::joinable!(tokens -> accounts (account_id));
diesel::joinable!(token_permissions -> tokens (token_id));
diesel::joinable!(token_module_usage -> tokens (token_id));
diesel::joinable!(events -> accounts (account_id));
diesel::joinable!(events -> tokens (token_id));
diesel::joinable!(events -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_secrets -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(agreements -> accounts (account_id));
diesel::joinable!(approval_requests -> tokens (token_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(passkeys -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    users,
    tokens,
    token_permissions,
    events,
    agreements,
    sessions,
    sign_in_attempts,
    token_usage,
    token_usage_hourly,
    token_module_usage,
    approval_requests,
    notifications,
    mail_digests,
    totp_secrets,
    recovery_codes,
    passkeys,
);
