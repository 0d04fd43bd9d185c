//! Initial schema: every table, index, named constraint and the position-event NOTIFY trigger.
//!
//! Raw SQL rather than the SeaQuery builder, because the CHECK constraints, identity columns,
//! NUMERIC(32,8) and the trigger read more plainly as SQL and this migration is PostgreSQL only.
//! Every constraint is named so the adapter can map a violation to an error by constraint name.
//! PostgreSQL runs the whole migration in one transaction, and the `IF NOT EXISTS` guards keep a
//! second run harmless even if the `seaql_migrations` bookkeeping was lost.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}

const UP: &str = r#"
CREATE TABLE IF NOT EXISTS institutions (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    regions     jsonb       NOT NULL,
    verticals   jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT institutions_pkey PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS asset_templates (
    id              uuid        NOT NULL,
    institution_id  uuid        NOT NULL,
    code            text        NOT NULL,
    name            text        NOT NULL,
    vertical        text        NOT NULL,
    region          text        NOT NULL,
    config          jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT asset_templates_pkey PRIMARY KEY (id),
    CONSTRAINT asset_templates_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT asset_templates_code_check
        CHECK (code IN ('CONSTR_ESCROW', 'CONSTR_RETAINAGE', 'TF_INVOICE', 'TF_LC')),
    CONSTRAINT asset_templates_vertical_check
        CHECK (vertical IN ('CONSTRUCTION', 'TRADE_FINANCE')),
    CONSTRAINT asset_templates_region_check
        CHECK (region IN ('US', 'EU_UK', 'SG', 'UAE'))
);
CREATE INDEX IF NOT EXISTS asset_templates_institution_id_id_idx
    ON asset_templates (institution_id, id);

CREATE TABLE IF NOT EXISTS assets (
    id              uuid        NOT NULL,
    institution_id  uuid        NOT NULL,
    template_id     uuid        NOT NULL,
    label           text        NOT NULL,
    metadata        jsonb       NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT assets_pkey PRIMARY KEY (id),
    CONSTRAINT assets_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT assets_template_id_fkey
        FOREIGN KEY (template_id) REFERENCES asset_templates (id)
);
CREATE INDEX IF NOT EXISTS assets_institution_id_id_idx ON assets (institution_id, id);
CREATE INDEX IF NOT EXISTS assets_template_id_id_idx ON assets (template_id, id);

CREATE TABLE IF NOT EXISTS positions (
    id                  uuid          NOT NULL,
    institution_id      uuid          NOT NULL,
    asset_id            uuid          NOT NULL,
    holder_reference    text          NOT NULL,
    currency            text          NOT NULL,
    amount              numeric(32,8) NOT NULL,
    released_amount     numeric(32,8) NOT NULL DEFAULT 0,
    state               text          NOT NULL,
    version             integer       NOT NULL,
    external_reference  text          NULL,
    created_at          timestamptz   NOT NULL,
    updated_at          timestamptz   NOT NULL,
    CONSTRAINT positions_pkey PRIMARY KEY (id),
    CONSTRAINT positions_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT positions_asset_id_fkey
        FOREIGN KEY (asset_id) REFERENCES assets (id),
    CONSTRAINT positions_currency_check
        CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT positions_amount_check
        CHECK (amount > 0 AND amount <= 1000000000000000),
    CONSTRAINT positions_released_amount_check
        CHECK (released_amount >= 0 AND released_amount <= amount),
    CONSTRAINT positions_state_check
        CHECK (state IN ('CREATED', 'FUNDED', 'PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED')),
    CONSTRAINT positions_version_check
        CHECK (version >= 1)
);
CREATE INDEX IF NOT EXISTS positions_institution_id_id_idx ON positions (institution_id, id);
CREATE INDEX IF NOT EXISTS positions_asset_id_id_idx ON positions (asset_id, id);
CREATE INDEX IF NOT EXISTS positions_holder_reference_idx ON positions (holder_reference);

-- institution_id and asset_id are copies of the position's, kept so event feeds and
-- subscription replays filter on one table; the position_id foreign key already ties them down.
CREATE TABLE IF NOT EXISTS position_events (
    id              uuid          NOT NULL,
    seq             bigint        GENERATED ALWAYS AS IDENTITY NOT NULL,
    position_id     uuid          NOT NULL,
    institution_id  uuid          NOT NULL,
    asset_id        uuid          NOT NULL,
    from_state      text          NULL,
    to_state        text          NOT NULL,
    reason          text          NULL,
    metadata        jsonb         NULL,
    release_amount  numeric(32,8) NULL,
    version         integer       NOT NULL,
    at              timestamptz   NOT NULL,
    CONSTRAINT position_events_pkey PRIMARY KEY (id),
    CONSTRAINT position_events_seq_key UNIQUE (seq),
    CONSTRAINT position_events_position_id_fkey
        FOREIGN KEY (position_id) REFERENCES positions (id),
    CONSTRAINT position_events_position_version_key UNIQUE (position_id, version),
    CONSTRAINT position_events_from_state_check
        CHECK (from_state IS NULL OR from_state IN ('CREATED', 'FUNDED', 'PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED')),
    CONSTRAINT position_events_to_state_check
        CHECK (to_state IN ('CREATED', 'FUNDED', 'PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED')),
    CONSTRAINT position_events_release_amount_check
        CHECK (release_amount IS NULL OR release_amount > 0),
    CONSTRAINT position_events_version_check
        CHECK (version >= 1)
);
CREATE INDEX IF NOT EXISTS position_events_institution_id_seq_idx
    ON position_events (institution_id, seq);
CREATE INDEX IF NOT EXISTS position_events_asset_id_seq_idx
    ON position_events (asset_id, seq);

CREATE TABLE IF NOT EXISTS ledger_events (
    id              uuid        NOT NULL,
    seq             bigint      GENERATED ALWAYS AS IDENTITY NOT NULL,
    institution_id  uuid        NOT NULL,
    position_id     uuid        NOT NULL,
    kind            text        NOT NULL,
    previous_state  text        NULL,
    new_state       text        NOT NULL,
    payload         jsonb       NOT NULL,
    at              timestamptz NOT NULL,
    CONSTRAINT ledger_events_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_events_seq_key UNIQUE (seq),
    CONSTRAINT ledger_events_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT ledger_events_position_id_fkey
        FOREIGN KEY (position_id) REFERENCES positions (id),
    CONSTRAINT ledger_events_kind_check
        CHECK (kind IN ('POSITION_CREATED', 'POSITION_STATE_CHANGED'))
);
CREATE INDEX IF NOT EXISTS ledger_events_position_id_seq_idx ON ledger_events (position_id, seq);
CREATE INDEX IF NOT EXISTS ledger_events_institution_id_id_idx ON ledger_events (institution_id, id);

-- No foreign keys: an audit row must be writable for attempts that name nothing real,
-- and must survive whatever it names.
CREATE TABLE IF NOT EXISTS audit_events (
    id              uuid        NOT NULL,
    at              timestamptz NOT NULL,
    action          text        NOT NULL,
    outcome         text        NOT NULL,
    api_key_id      uuid        NULL,
    institution_id  uuid        NULL,
    resource_type   text        NULL,
    resource_id     uuid        NULL,
    request_id      text        NULL,
    payload         jsonb       NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS audit_events_institution_id_id_idx ON audit_events (institution_id, id);
CREATE INDEX IF NOT EXISTS audit_events_resource_id_idx ON audit_events (resource_id);
CREATE INDEX IF NOT EXISTS audit_events_action_idx ON audit_events (action);

CREATE TABLE IF NOT EXISTS api_keys (
    id              uuid        NOT NULL,
    institution_id  uuid        NOT NULL,
    label           text        NOT NULL,
    role            text        NOT NULL,
    key_hash        text        NOT NULL,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz NULL,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT api_keys_role_check
        CHECK (role IN ('ADMIN', 'READ_ONLY')),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX IF NOT EXISTS api_keys_institution_id_id_idx ON api_keys (institution_id, id);

CREATE TABLE IF NOT EXISTS policies (
    id                  uuid          NOT NULL,
    institution_id      uuid          NOT NULL,
    region              text          NOT NULL,
    min_amount          numeric(32,8) NULL,
    max_amount          numeric(32,8) NULL,
    allowed_currencies  jsonb         NULL,
    created_at          timestamptz   NOT NULL,
    updated_at          timestamptz   NOT NULL,
    CONSTRAINT policies_pkey PRIMARY KEY (id),
    CONSTRAINT policies_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id),
    CONSTRAINT policies_region_check
        CHECK (region IN ('US', 'EU_UK', 'SG', 'UAE')),
    CONSTRAINT policies_institution_region_key UNIQUE (institution_id, region),
    CONSTRAINT policies_amount_range_check
        CHECK (min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount)
);

CREATE TABLE IF NOT EXISTS idempotency_records (
    institution_id  uuid        NOT NULL,
    key             text        NOT NULL,
    operation       text        NOT NULL,
    request_hash    text        NOT NULL,
    position_id     uuid        NOT NULL,
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT idempotency_records_pkey PRIMARY KEY (institution_id, key),
    CONSTRAINT idempotency_records_institution_id_fkey
        FOREIGN KEY (institution_id) REFERENCES institutions (id)
);

-- pg_notify inside the inserting transaction is delivered only when that transaction commits,
-- so listeners never hear of an event that could still roll back. The payload is just the seq;
-- listeners re-read the row (and catch up on anything they missed) from the table.
CREATE OR REPLACE FUNCTION escrowgrid_notify_position_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('escrowgrid_position_events', NEW.seq::text);
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS position_events_notify ON position_events;
CREATE TRIGGER position_events_notify
    AFTER INSERT ON position_events
    FOR EACH ROW EXECUTE FUNCTION escrowgrid_notify_position_event();
"#;

// Children before parents, so no CASCADE is needed and nothing outside this migration is dropped.
const DOWN: &str = r#"
DROP TABLE IF EXISTS idempotency_records;
DROP TABLE IF EXISTS policies;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS ledger_events;
DROP TABLE IF EXISTS position_events;
DROP TABLE IF EXISTS positions;
DROP TABLE IF EXISTS assets;
DROP TABLE IF EXISTS asset_templates;
DROP TABLE IF EXISTS institutions;
DROP FUNCTION IF EXISTS escrowgrid_notify_position_event();
"#;
