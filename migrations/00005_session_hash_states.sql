-- The running SHA-256 of an upload, saved with each committed offset where the content cannot be
-- read back before it is complete (an S3 multipart upload): any server can then go on hashing
-- from the committed offset. Null where the hash is rebuilt from the partial content instead.
ALTER TABLE upload_sessions ADD COLUMN hash_state bytea;
