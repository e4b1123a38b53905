-- An inverted index of contacts' trigrams: fuzzy search counts a query's trigrams per contact
-- from the postings of those trigrams only, instead of scoring every row that shares one.
CREATE TABLE IF NOT EXISTS relationship_trigrams (
    gram       text NOT NULL,
    contact_id bigint NOT NULL REFERENCES relationship_contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (gram, contact_id)
);
CREATE INDEX IF NOT EXISTS relationship_trigrams_contact ON relationship_trigrams (contact_id);
INSERT INTO relationship_trigrams (gram, contact_id)
    SELECT DISTINCT g, id FROM relationship_contacts, unnest(trigrams) g ON CONFLICT DO NOTHING;
DROP INDEX IF EXISTS relationship_contacts_trigrams;  -- replaced by the postings above
