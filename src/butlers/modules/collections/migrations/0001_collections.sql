-- The collections module: named collections of entities with a title, free JSON attributes and tags.
CREATE TABLE IF NOT EXISTS collections (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Names compare case-insensitively: "Bikes" and "bikes" are one collection.
CREATE UNIQUE INDEX IF NOT EXISTS collections_name ON collections (lower(name));

CREATE TABLE IF NOT EXISTS collection_entities (
    id            bigserial PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    title         text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    attributes    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    tags          text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS collection_entities_collection ON collection_entities (collection_id, id);
CREATE INDEX IF NOT EXISTS collection_entities_tags ON collection_entities USING gin (tags);
