-- A fencing token for upload sessions: each request that takes a session's lock bumps the epoch,
-- and every offset move and completion names the epoch it holds. A writer whose lock went with its
-- database connection before it noticed can then never move the offset under the writer that took
-- the session over: its compare-and-set finds another epoch.
ALTER TABLE upload_sessions ADD COLUMN writer_epoch bigint NOT NULL DEFAULT 0;
