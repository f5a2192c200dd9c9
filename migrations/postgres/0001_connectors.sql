-- Connectors. Ids are unique across spaces, as Kibana's saved-object ids are.
CREATE TABLE connectors (
    id                 TEXT        NOT NULL PRIMARY KEY,
    space_id           TEXT        NOT NULL,
    type_id            TEXT        NOT NULL,
    name               TEXT        NOT NULL,
    -- The validated config as JSON, defaults filled in. Not secret.
    config             TEXT        NOT NULL,
    -- The validated secrets as JSON, sealed by crypto::SecretBox. Never plaintext.
    secrets            BYTEA       NOT NULL,
    is_missing_secrets BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX connectors_by_space ON connectors (space_id);
