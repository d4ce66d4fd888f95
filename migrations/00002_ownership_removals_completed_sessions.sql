-- What keeps a database and its content store together, and content safe from every sweep that
-- does not own it.

-- Who this database (this schema) is: one row, made once. Its id is written into the blob store the
-- database first claims, and that store's id is kept here, so that a server refuses to start on a
-- store that holds another database's content, or on a database whose content is in another store.
CREATE TABLE deployment (
  only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  database_id   uuid NOT NULL DEFAULT gen_random_uuid(),
  -- The blob store this database's content lives in; null until a server first claims one.
  blob_store_id uuid,
  created_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deployment DEFAULT VALUES;

-- Content this database made and no longer needs: the id of a deleted or replaced file's blob, of a
-- cancelled, expired or completed session's partial content. An id is added in the same
-- transaction that lets go of the content, and removed once the content is gone; the sweep removes
-- only what is listed here, so it never touches content this database did not create.
-- One id may be let go of twice (a completed session's partial content, then its file's blob):
-- `version` counts the times, so that a removal that read the first one forgets the id only if no
-- second came meanwhile.
CREATE TABLE content_removals (
  id      uuid PRIMARY KEY,
  since   timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);

-- A completed session stays readable until it would have expired, so that a client whose final
-- answer was lost learns that the upload completed (and which file it became) instead of "not found".
ALTER TABLE upload_sessions ADD COLUMN completed_at timestamptz;
-- The open-session limit counts the sessions still being uploaded.
CREATE INDEX upload_sessions_open ON upload_sessions (expires_at) WHERE completed_at IS NULL;

-- Content a server found missing or damaged while serving it, for operators and `npm run fsck`.
CREATE TABLE content_faults (
  blob_id    uuid PRIMARY KEY,
  bucket     bucket_name NOT NULL,
  key        object_key NOT NULL,
  problem    text NOT NULL,
  times      integer NOT NULL DEFAULT 1,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now()
);
