DROP TABLE IF EXISTS sessions;
DROP FUNCTION IF EXISTS sessions_append_only();
