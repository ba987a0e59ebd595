-- The event tables by month (README "Growth and retention"). The rows of
-- data_events, data_event_changes, data_event_values and
-- data_event_mutations carry the day their writer stored them (stored_day,
-- days since 1970-01-01 UTC, never below the day of the log's previous
-- append: services/auditor/ledger.h), and are RANGE-partitioned on it, a
-- partition a month. The auditor's maintenance thread (services/auditor/
-- retention.c) splits months off the catch-all partition ahead of time and,
-- when retention is on, exports a month wholly older than it as verifiable
-- bundles and drops it. Since the day only grows along each log, a dropped
-- month is a prefix of every log's positions.
--
-- The log of record stays whole and unpartitioned: log_appends (the leaf
-- hashes, which stand for dropped leaves in every proof), log_nodes,
-- log_checkpoints. log_appends gains the day of its append, so the
-- positions a month holds are found without reading the events, and a
-- writer taking a log over continues from its last day.
--
-- MariaDB wants the partitioning column in every unique key, so the event
-- id's uniqueness (what de-duplication relies on: store_write.c) moves to
-- data_event_ids, unpartitioned, which also says where an event stood
-- (log, position) after its month is gone, for the answer that names its
-- bundle.
--
-- Every row stored before this migration has day 0: it falls into the
-- first month the maintenance thread splits off (the month it first runs
-- in), and leaves with it.

CREATE TABLE data_event_ids (
  event_id  BINARY(16)        NOT NULL COMMENT 'the UUID''s 16 bytes (sql_id.h)',
  log_id    SMALLINT UNSIGNED NOT NULL,
  seq       BIGINT UNSIGNED   NOT NULL,
  PRIMARY KEY (event_id)
) ENGINE=InnoDB;

INSERT INTO data_event_ids (event_id, log_id, seq) SELECT event_id, log_id, seq FROM data_events;

ALTER TABLE log_appends
  ADD COLUMN stored_day SMALLINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'the day its events were stored under (days since 1970-01-01 UTC)';

ALTER TABLE data_events
  ADD COLUMN stored_day SMALLINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'days since 1970-01-01 UTC: the partition key',
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (event_id, stored_day)
  PARTITION BY RANGE (stored_day) (PARTITION pmax VALUES LESS THAN MAXVALUE);

ALTER TABLE data_event_changes
  ADD COLUMN stored_day SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (event_id, field, stored_day)
  PARTITION BY RANGE (stored_day) (PARTITION pmax VALUES LESS THAN MAXVALUE);

ALTER TABLE data_event_values
  ADD COLUMN stored_day SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (event_id, field, stored_day)
  PARTITION BY RANGE (stored_day) (PARTITION pmax VALUES LESS THAN MAXVALUE);

ALTER TABLE data_event_mutations
  ADD COLUMN stored_day SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (log_id, seq, stored_day)
  PARTITION BY RANGE (stored_day) (PARTITION pmax VALUES LESS THAN MAXVALUE);

-- What retention exported and dropped (insert-only, like the log): one row
-- per log and month, written after its bundle is on disk and before the
-- month is dropped.
CREATE TABLE log_retained (
  log_id      SMALLINT UNSIGNED NOT NULL,
  first_seq   BIGINT UNSIGNED   NOT NULL COMMENT 'the first position the bundle holds',
  end_seq     BIGINT UNSIGNED   NOT NULL COMMENT 'one past its last',
  part        VARCHAR(16)       CHARACTER SET ascii COLLATE ascii_bin NOT NULL
              COMMENT 'the month''s partition (pYYYYMM)',
  bundle      VARCHAR(255)      CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
              COMMENT 'its file name in the retention folder',
  sha256      BINARY(32)        NOT NULL COMMENT 'SHA-256 of the file',
  retained_at TIMESTAMP(3)      NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id, first_seq)
) ENGINE=InnoDB;

-- The highest version of each target whose mutations retention dropped,
-- so that the checker (services/auditor/checker.h) still knows the versions
-- below a target's first kept one were stored (they are in a bundle) and
-- flags no gap there. Written by the maintainer before it drops a month of
-- data_event_mutations; it only ever grows (GREATEST).
CREATE TABLE data_event_retained_versions (
  target_type  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id    VARCHAR(64) NOT NULL,
  top          BIGINT UNSIGNED NOT NULL
               COMMENT 'its highest version times 2, plus 1 when that version deleted it',
  PRIMARY KEY (target_type, target_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
