-- The approval gate's queries (butlers.core.approvals).

-- name: hold
INSERT INTO approvals (action, args, summary) VALUES ($1, $2, $3) RETURNING id

-- name: reject
UPDATE approvals SET status = 'rejected', reason = $2, decided_at = now(), finished_at = now(),
                     decided_by = $3, decided_via = $4
 WHERE id = $1 AND status = 'pending' RETURNING id

-- name: list
SELECT * FROM approvals WHERE ($1::text IS NULL OR status = $1)
 ORDER BY created_at DESC, id DESC LIMIT $2

-- name: get
SELECT * FROM approvals WHERE id = $1

-- name: lock
SELECT * FROM approvals WHERE id = $1 FOR UPDATE

-- name: start
UPDATE approvals SET status = 'running', decided_at = now(), decided_by = $2, decided_via = $3, owner = $4
 WHERE id = $1

-- name: finish
UPDATE approvals SET status = $2, result = $3, error = $4, finished_at = now()
 WHERE id = $1 AND status = 'running'
