-- The log of record (docs/ledger.md). Every stored event has a position
-- (log_id, seq) given by the log's single writer inside the insert
-- transaction, and its leaf hash; changed values live apart from the
-- commitments that the leaf holds, so a value can be erased and the log
-- still verifies; the writer stores interior hashes of the Merkle tree and
-- the checkpoints it signs.
--
-- Events stored before this migration had no position and no salts; they
-- are kept, untouched, in legacy_data_events / legacy_data_event_changes,
-- outside the log of record.

RENAME TABLE data_events TO legacy_data_events,
             data_event_changes TO legacy_data_event_changes;

CREATE TABLE data_events (
  log_id       SMALLINT UNSIGNED NOT NULL,
  seq          BIGINT UNSIGNED NOT NULL COMMENT 'position in the log, from 0, no gap',
  event_id     CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action       ENUM('viewed', 'created', 'changed', 'deleted') NOT NULL,
  occurred_at  BIGINT       NOT NULL COMMENT 'producer time, ms since epoch',
  actor_type   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  actor_id     VARCHAR(64)  NOT NULL,
  target_type  VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id    VARCHAR(64)  NOT NULL,
  event_name   VARCHAR(128) NULL,
  leaf_hash    BINARY(32)   NOT NULL COMMENT 'SHA-256(0x00 || leaf), RFC 9162 2.1.1',
  received_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id, seq),
  UNIQUE KEY data_events_event_id (event_id),
  KEY data_events_actor (actor_type, actor_id, occurred_at, event_id),
  KEY data_events_target (target_type, target_id, occurred_at, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- What the leaf commits to for each changed field.
CREATE TABLE data_event_changes (
  event_id         CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  field            VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  prev_commitment  BINARY(32)  NOT NULL COMMENT 'SHA-256(prev_salt || JCS(prev))',
  next_commitment  BINARY(32)  NOT NULL COMMENT 'SHA-256(next_salt || JCS(next))',
  PRIMARY KEY (event_id, field)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The values and their salts: the only rows anyone (the eraser) may delete.
CREATE TABLE data_event_values (
  event_id    CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  field       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  prev_salt   BINARY(16)  NOT NULL,
  prev_value  MEDIUMTEXT  NOT NULL COMMENT 'JSON',
  next_salt   BINARY(16)  NOT NULL,
  next_value  MEDIUMTEXT  NOT NULL COMMENT 'JSON',
  PRIMARY KEY (event_id, field)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Interior hashes of each log's tree: the complete subtree (level, idx)
-- covers leaves [idx * 2^level, (idx + 1) * 2^level). Stored for levels
-- 4, 8, 12, ...; any other node is at most 8 stored hashes away.
CREATE TABLE log_nodes (
  log_id  SMALLINT UNSIGNED NOT NULL,
  level   TINYINT UNSIGNED  NOT NULL,
  idx     BIGINT UNSIGNED   NOT NULL,
  hash    BINARY(32)        NOT NULL,
  PRIMARY KEY (log_id, level, idx)
) ENGINE=InnoDB;

-- Signed checkpoints (c2sp.org/tlog-checkpoint), one per signed size.
CREATE TABLE log_checkpoints (
  log_id     SMALLINT UNSIGNED NOT NULL,
  size       BIGINT UNSIGNED   NOT NULL,
  root       BINARY(32)        NOT NULL,
  note       TEXT              CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  signed_at  TIMESTAMP(3)      NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id, size)
) ENGINE=InnoDB;
