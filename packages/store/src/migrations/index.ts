/**
 * Numbered migrations, applied in order inside one transaction each; `PRAGMA user_version`
 * holds the number of the last one applied. Never edit a released migration: add the next.
 * They live in code (not .sql files) so the single executable carries them.
 */
export const migrations: readonly string[] = [
  // 1: identity, records, follows, peers, settings
  `
  CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    private_key BLOB NOT NULL,      -- libp2p protobuf encoding of the Ed25519 private key
    peer_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- Keyed by content id: two records by one author with the same seq are both kept.
  CREATE TABLE records (
    id TEXT PRIMARY KEY,
    author TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ts INTEGER NOT NULL,
    target TEXT,                    -- delete: the deleted id; reshare: the original's id
    bytes BLOB,                     -- the signed record; NULL once its author deleted it
    deleted_by TEXT,                -- id of the delete record that removed the content
    received_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX records_by_author_seq ON records (author, seq);
  CREATE INDEX records_by_ts ON records (ts);
  CREATE INDEX records_by_target ON records (target) WHERE target IS NOT NULL;

  CREATE TABLE follows (
    author TEXT PRIMARY KEY,
    followed_at INTEGER NOT NULL,
    via TEXT                        -- what the user typed: peer id, multiaddr or site
  ) STRICT;

  CREATE TABLE peers (
    peer_id TEXT PRIMARY KEY,
    multiaddrs TEXT NOT NULL,       -- JSON array of strings
    last_seen INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  // 2: an author's newest profile without walking all their records (the site shows it on every
  // page); ts breaks a tie between two profiles with one seq (a fork).
  `
  CREATE INDEX records_profiles ON records (author, seq, ts) WHERE kind = 'profile';
  `,
  // 3: the node's status reads two counts instead of scanning every record (25 ms of the
  // daemon's event loop at 100,000 records); triggers keep them exact, whoever writes.
  `
  CREATE TABLE record_counts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    held INTEGER NOT NULL,          -- records whose content is kept (bytes IS NOT NULL)
    collisions INTEGER NOT NULL     -- (author, seq) pairs that more than one record holds
  ) STRICT;
  INSERT INTO record_counts (id, held, collisions) VALUES (
    1,
    (SELECT count(*) FROM records WHERE bytes IS NOT NULL),
    (SELECT count(*) FROM (SELECT 1 FROM records GROUP BY author, seq HAVING count(*) > 1))
  );
  CREATE TRIGGER record_counts_insert AFTER INSERT ON records BEGIN
    UPDATE record_counts SET
      held = held + (NEW.bytes IS NOT NULL),
      collisions = collisions +
        ((SELECT count(*) FROM records WHERE author = NEW.author AND seq = NEW.seq) = 2);
  END;
  CREATE TRIGGER record_counts_content AFTER UPDATE OF bytes ON records BEGIN
    UPDATE record_counts SET held = held + (NEW.bytes IS NOT NULL) - (OLD.bytes IS NOT NULL);
  END;
  CREATE TRIGGER record_counts_delete AFTER DELETE ON records BEGIN
    UPDATE record_counts SET
      held = held - (OLD.bytes IS NOT NULL),
      collisions = collisions -
        ((SELECT count(*) FROM records WHERE author = OLD.author AND seq = OLD.seq) = 1);
  END;
  `,
]
