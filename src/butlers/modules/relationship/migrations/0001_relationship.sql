-- The relationship module: a personal CRM. Every table is prefixed `relationship_`.
-- The embedded server ships no pg_trgm/unaccent, so fuzzy search uses what the module fills
-- itself: `search_text` (accents stripped, case folded) and its trigrams in `relationship_trigrams`.
CREATE TABLE IF NOT EXISTS relationship_contacts (
    id                  bigserial PRIMARY KEY,
    first_name          text NOT NULL DEFAULT '',
    last_name           text NOT NULL DEFAULT '',
    display_name        text NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
    nicknames           text[] NOT NULL DEFAULT '{}',
    company             text NOT NULL DEFAULT '',
    job_title           text NOT NULL DEFAULT '',
    how_met             text NOT NULL DEFAULT '',
    notes               text NOT NULL DEFAULT '',
    labels              text[] NOT NULL DEFAULT '{}',
    frequency_days      integer CHECK (frequency_days BETWEEN 1 AND 3660),
    archived            boolean NOT NULL DEFAULT false,
    vcard_uid           text UNIQUE,
    merged_uids         text[] NOT NULL DEFAULT '{}',
    last_interaction_at timestamptz,
    search_text         text NOT NULL DEFAULT '',
    due_at              timestamptz,  -- kept by the trigger below
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS relationship_contacts_labels ON relationship_contacts USING gin (labels);
CREATE INDEX IF NOT EXISTS relationship_contacts_merged_uids ON relationship_contacts USING gin (merged_uids);
CREATE INDEX IF NOT EXISTS relationship_contacts_last_interaction
    ON relationship_contacts (last_interaction_at NULLS FIRST) WHERE NOT archived;

-- An inverted index of contacts' trigrams: fuzzy search counts a query's trigrams per contact
-- from the postings of those trigrams only, instead of scoring every row that shares one.
CREATE TABLE IF NOT EXISTS relationship_trigrams (
    gram       text NOT NULL,
    contact_id bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (gram, contact_id)
);
CREATE INDEX IF NOT EXISTS relationship_trigrams_contact ON relationship_trigrams (contact_id);
-- When a contact is next due (their frequency after the last interaction; never talked to: at once),
-- kept by a trigger so "overdue" is one range of one index, whoever writes the row.
CREATE OR REPLACE FUNCTION relationship_contacts_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.due_at := CASE WHEN NEW.frequency_days IS NULL THEN NULL
                       WHEN NEW.last_interaction_at IS NULL THEN '-infinity'::timestamptz
                       ELSE NEW.last_interaction_at + make_interval(days => NEW.frequency_days) END;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS relationship_contacts_due_at ON relationship_contacts;
CREATE TRIGGER relationship_contacts_due_at BEFORE INSERT OR UPDATE OF frequency_days, last_interaction_at
    ON relationship_contacts FOR EACH ROW EXECUTE FUNCTION relationship_contacts_due_at();
CREATE INDEX IF NOT EXISTS relationship_contacts_due ON relationship_contacts (due_at, id)
    WHERE due_at IS NOT NULL AND NOT archived;

CREATE TABLE IF NOT EXISTS relationship_details (
    id         bigserial PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('email', 'phone', 'address', 'url')),
    label      text NOT NULL DEFAULT '',
    value      text NOT NULL CHECK (length(btrim(value)) BETWEEN 1 AND 500),
    value_norm text NOT NULL,
    UNIQUE (contact_id, kind, value_norm)
);
CREATE INDEX IF NOT EXISTS relationship_details_lookup ON relationship_details (kind, value_norm);

CREATE TABLE IF NOT EXISTS relationship_relations (
    id         bigserial PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    other_id   bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('partner', 'spouse', 'child', 'parent', 'sibling', 'friend',
                                             'colleague', 'custom')),
    custom     text NOT NULL DEFAULT '',
    CHECK (contact_id <> other_id),
    CHECK ((kind = 'custom') = (custom <> '')),
    UNIQUE (contact_id, other_id, kind, custom)
);
CREATE INDEX IF NOT EXISTS relationship_relations_other ON relationship_relations (other_id);

-- Important dates: month and day always, the year only when known (a birthday "without a year").
CREATE TABLE IF NOT EXISTS relationship_dates (
    id         bigserial PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('birthday', 'anniversary', 'other')),
    label      text NOT NULL DEFAULT '',
    month      smallint NOT NULL CHECK (month BETWEEN 1 AND 12),
    day        smallint NOT NULL CHECK (day BETWEEN 1 AND 31),
    year       smallint CHECK (year BETWEEN 1 AND 9999)
);
CREATE INDEX IF NOT EXISTS relationship_dates_contact ON relationship_dates (contact_id);
CREATE INDEX IF NOT EXISTS relationship_dates_month_day ON relationship_dates ((month * 100 + day));
CREATE UNIQUE INDEX IF NOT EXISTS relationship_dates_one_birthday
    ON relationship_dates (contact_id) WHERE kind = 'birthday';

CREATE TABLE IF NOT EXISTS relationship_interactions (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('call', 'message', 'meeting', 'other')),
    direction   text NOT NULL CHECK (direction IN ('outbound', 'inbound', 'mutual')),
    notes       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- With whom: one or several contacts; `occurred_at` is repeated so a contact's feed is one index scan.
CREATE TABLE IF NOT EXISTS relationship_interaction_contacts (
    interaction_id bigint NOT NULL REFERENCES relationship_interactions (id) ON DELETE CASCADE,
    contact_id     bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    occurred_at    timestamptz NOT NULL,
    PRIMARY KEY (interaction_id, contact_id)
);
CREATE INDEX IF NOT EXISTS relationship_interaction_contacts_feed
    ON relationship_interaction_contacts (contact_id, occurred_at DESC, interaction_id DESC);

CREATE TABLE IF NOT EXISTS relationship_gifts (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    status      text NOT NULL CHECK (status IN ('idea', 'given', 'received')),
    occasion    text NOT NULL DEFAULT '',
    notes       text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS relationship_loans (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    direction   text NOT NULL CHECK (direction IN ('lent', 'borrowed')),
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    notes       text NOT NULL DEFAULT '',
    settled     boolean NOT NULL DEFAULT false,
    settled_at  timestamptz,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS relationship_life_events (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('moved', 'new_job', 'baby', 'engaged', 'married', 'graduated',
                                              'retired', 'loss', 'health', 'other')),
    title       text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    notes       text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS relationship_notes (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    body        text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 20000),
    occurred_at timestamptz NOT NULL DEFAULT now()
);

-- The activity tables' indexes, by what reads them: a contact's own activity (newest first)...
CREATE INDEX IF NOT EXISTS relationship_gifts_contact ON relationship_gifts (contact_id, occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_loans_contact ON relationship_loans (contact_id, occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_life_events_contact
    ON relationship_life_events (contact_id, occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_notes_contact ON relationship_notes (contact_id, occurred_at DESC, id DESC);
-- ...and the activity feed (feed.py), the five tables together newest first.
CREATE INDEX IF NOT EXISTS relationship_interactions_feed ON relationship_interactions (occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_gifts_feed ON relationship_gifts (occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_loans_feed ON relationship_loans (occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_life_events_feed ON relationship_life_events (occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS relationship_notes_feed ON relationship_notes (occurred_at DESC, id DESC);
