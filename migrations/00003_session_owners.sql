-- Who opened each upload session (the API key's id; null when the service runs without keys),
-- so that one key's open sessions and declared-but-unwritten bytes can be limited without
-- starving every other key.
ALTER TABLE upload_sessions ADD COLUMN owner text CHECK (char_length(owner) BETWEEN 1 AND 200);
CREATE INDEX upload_sessions_open_by_owner ON upload_sessions (owner, expires_at) WHERE completed_at IS NULL;
