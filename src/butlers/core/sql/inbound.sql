-- The inbound log's queries (butlers.core.inbound).

-- name: store
-- Its own committed statement: the message is durable before any hand-off starts.
-- $1-$7 are an InboundMessage's fields in their order (inbound._values).
INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, subject, metadata, owner)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (channel, external_id) DO NOTHING RETURNING id

-- name: store_ignored
-- A message never to be handed off, stored already ended, with why ($8).
INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, subject, metadata,
                              status, error, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'ignored', $8, now())
ON CONFLICT (channel, external_id) DO NOTHING RETURNING id

-- name: id_of
SELECT id FROM inbound_messages WHERE channel = $1 AND external_id = $2

-- name: pending_ids
SELECT id FROM inbound_messages WHERE status = 'received' ORDER BY stored_at, id

-- name: list
SELECT * FROM inbound_messages
 WHERE ($1::text IS NULL OR channel = $1) AND ($2::text IS NULL OR status = $2)
 ORDER BY received_at DESC, id DESC LIMIT $3

-- name: reset_failed
UPDATE inbound_messages
   SET status = 'received', session_id = NULL, dispatched_at = NULL, finished_at = NULL, error = NULL
 WHERE id = $1 AND status = 'failed' RETURNING id

-- name: get
SELECT * FROM inbound_messages WHERE id = $1

-- name: lock_received
-- The row lock makes a racing receive/redeliver wait, then see it is no longer `received`.
SELECT * FROM inbound_messages WHERE id = $1 AND status = 'received' FOR UPDATE

-- name: end_unplaced
UPDATE inbound_messages SET status = $2, error = $3, finished_at = now()
 WHERE id = $1 AND status = 'received'

-- name: mark_dispatched
-- A session that already ended (an idempotent dispatcher returning an old
-- one) fires no trigger any more, so its outcome is copied here.
UPDATE inbound_messages m
   SET session_id = $2, dispatched_at = now(),
       status = COALESCE(inbound_status_of_session(s.status), 'dispatched'),
       finished_at = CASE WHEN inbound_status_of_session(s.status) IS NOT NULL
                          THEN COALESCE(s.finished_at, now()) END,
       error = s.error
  FROM (SELECT NULL) AS one
  LEFT JOIN sessions s ON s.id = $2
 WHERE m.id = $1
