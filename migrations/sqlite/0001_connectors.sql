-- Connectors. Ids are unique across spaces, as Kibana's saved-object ids are.
CREATE TABLE connectors (
    id                 TEXT    NOT NULL PRIMARY KEY,
    space_id           TEXT    NOT NULL,
    type_id            TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    -- The validated config as JSON, defaults filled in. Not secret.
    config             TEXT    NOT NULL,
    -- The validated secrets as JSON, sealed by crypto::SecretBox. Never plaintext.
    secrets            BLOB    NOT NULL,
    is_missing_secrets INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
) STRICT;

CREATE INDEX connectors_by_space ON connectors (space_id);
