-- Spaces. A space's attributes (name, description, color, ...) are kept as the JSON
-- Kibana's Spaces API shows; the default space always exists.
CREATE TABLE spaces (
    id         TEXT    NOT NULL PRIMARY KEY,
    attributes TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);

INSERT INTO spaces (id, attributes, created_at) VALUES (
    'default',
    '{"name":"Default","description":"This is your default space!","color":"#00bfb3","disabledFeatures":[]}',
    0
);

-- Users of the native realm. Passwords are kept only as Argon2id hashes (PHC strings).
CREATE TABLE users (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    -- JSON array of role names.
    roles         TEXT    NOT NULL,
    full_name     TEXT,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT NOT NULL
);

-- Roles in the shape of Kibana's role API (elasticsearch + kibana sections), as JSON.
CREATE TABLE roles (
    name       TEXT    NOT NULL PRIMARY KEY,
    body       TEXT    NOT NULL,
    updated_at BIGINT NOT NULL
);

-- API keys. The key itself is kept only as an Argon2id hash. Times are epoch millis.
CREATE TABLE api_keys (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    key_hash         TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    -- The role descriptors given at creation (Elasticsearch's format), JSON.
    role_descriptors TEXT    NOT NULL,
    -- The owner's roles when the key was made: the key never exceeds them.
    limited_by       TEXT    NOT NULL,
    metadata         TEXT    NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT,
    invalidated_at   BIGINT
);

CREATE INDEX api_keys_by_name ON api_keys (name);
