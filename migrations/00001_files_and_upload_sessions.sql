-- Files and upload sessions. The rules users rely on are constraints here, so that no code path
-- (or second server process) can break them: valid names, offsets within the declared size,
-- one file per bucket/key, one content blob per file.

-- Keys sort and compare bytewise (COLLATE "C"): listings are in a stable, locale-free order and
-- prefix scans can use the primary key's index.
CREATE DOMAIN bucket_name AS text COLLATE "C"
  CHECK (VALUE ~ '^[A-Za-z0-9_-]{1,63}$');

CREATE DOMAIN object_key AS text COLLATE "C"
  CHECK (
    char_length(VALUE) BETWEEN 1 AND 1024
    AND VALUE ~ '^[A-Za-z0-9_./-]+$'
    AND VALUE !~ '(^|/)\.{0,2}(/|$)'  -- no empty, "." or ".." segment, no leading/trailing "/"
  );

CREATE TABLE upload_sessions (
  id               uuid PRIMARY KEY,
  bucket           bucket_name NOT NULL,
  key              object_key NOT NULL,
  mime_type        text NOT NULL CHECK (char_length(mime_type) BETWEEN 1 AND 255),
  size             bigint NOT NULL CHECK (size >= 0),
  -- Bytes fsynced to the session's partial content; never more than the declared size.
  committed_offset bigint NOT NULL DEFAULT 0 CHECK (committed_offset BETWEEN 0 AND size),
  -- SHA-256 the client promised, if any.
  expected_sha256  bytea CHECK (octet_length(expected_sha256) = 32),
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);

-- The sweep looks for expired sessions.
CREATE INDEX upload_sessions_expires_at ON upload_sessions (expires_at);

CREATE TABLE files (
  bucket     bucket_name NOT NULL,
  key        object_key NOT NULL,
  mime_type  text NOT NULL CHECK (char_length(mime_type) BETWEEN 1 AND 255),
  bytes      bigint NOT NULL CHECK (bytes >= 0),
  sha256     bytea NOT NULL CHECK (octet_length(sha256) = 32),
  -- The content blob: the id of the session that uploaded it. Unique, so that deleting or
  -- replacing one file can never remove another file's content.
  blob_id    uuid NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, key)
);
