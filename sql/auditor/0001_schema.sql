-- The audit log. One row per data event, keyed by the producer's event id
-- so a redelivered event is stored once; one row per changed field.
-- Events are read newest first by actor or by target, through the two
-- composite indexes, with keyset pagination on (occurred_at, event_id).

CREATE TABLE data_events (
  seq          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_id     CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action       ENUM('viewed', 'created', 'changed', 'deleted') NOT NULL,
  occurred_at  BIGINT       NOT NULL COMMENT 'producer time, ms since epoch',
  actor_type   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  actor_id     VARCHAR(64)  NOT NULL,
  target_type  VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id    VARCHAR(64)  NOT NULL,
  event_name   VARCHAR(128) NULL,
  received_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (seq),
  UNIQUE KEY data_events_event_id (event_id),
  KEY data_events_actor (actor_type, actor_id, occurred_at, event_id),
  KEY data_events_target (target_type, target_id, occurred_at, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE data_event_changes (
  event_id     CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  field        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  prev_value   MEDIUMTEXT  NOT NULL COMMENT 'JSON',
  next_value   MEDIUMTEXT  NOT NULL COMMENT 'JSON',
  PRIMARY KEY (event_id, field)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
