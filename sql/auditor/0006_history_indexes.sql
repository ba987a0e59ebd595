-- Object histories (README "Object histories"): the indexes that rebuild a
-- target's state at any time, list one field's changes, and tell which
-- versions of a target are stored. Both are derived from the log of record
-- (data_events and its changes), written by the writer in the same
-- transaction as the events they index; /verify checks that they agree
-- with it.

-- Each changed field knows its event's target, version, time and actor,
-- so one field's history is one range of data_event_changes_field.
ALTER TABLE data_event_changes
  ADD COLUMN actor_type     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  ADD COLUMN actor_id       VARCHAR(64) NOT NULL DEFAULT '',
  ADD COLUMN target_type    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  ADD COLUMN target_id      VARCHAR(64) NOT NULL DEFAULT '',
  ADD COLUMN target_version BIGINT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN occurred_at    BIGINT NOT NULL DEFAULT 0,
  ADD KEY data_event_changes_field (target_type, target_id, field, target_version, occurred_at, event_id);

UPDATE data_event_changes c JOIN data_events e ON e.event_id = c.event_id
   SET c.actor_type = e.actor_type, c.actor_id = e.actor_id, c.target_type = e.target_type, c.target_id = e.target_id,
       c.target_version = e.target_version, c.occurred_at = e.occurred_at;

-- One row per stored mutation (created, changed, deleted), by position:
-- the versions of each target as stored, in the order the log stored them.
CREATE TABLE data_event_mutations (
  log_id          SMALLINT UNSIGNED NOT NULL,
  seq             BIGINT UNSIGNED   NOT NULL,
  event_id        CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action          ENUM('created', 'changed', 'deleted') NOT NULL,
  target_type     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id       VARCHAR(64) NOT NULL,
  target_version  BIGINT UNSIGNED NOT NULL,
  occurred_at     BIGINT      NOT NULL,
  PRIMARY KEY (log_id, seq),
  UNIQUE KEY data_event_mutations_event (event_id),
  KEY data_event_mutations_version (target_type, target_id, target_version, occurred_at, event_id),
  KEY data_event_mutations_time (target_type, target_id, occurred_at, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO data_event_mutations (log_id, seq, event_id, action, target_type, target_id,
                                  target_version, occurred_at)
  SELECT log_id, seq, event_id, action, target_type, target_id, target_version, occurred_at
    FROM data_events WHERE action <> 'viewed';
