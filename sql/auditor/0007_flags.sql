-- Gaps and drift (README "Gaps and drift"): the checker (services/auditor/
-- checker.c) reads each log's mutations in position order and flags those
-- whose version or values do not follow from what the log stored before
-- them. A flag names what was expected in words and never holds a value
-- (values live only in data_event_values, which an erasure empties).

CREATE TABLE data_event_flags (
  event_id     CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  flag         ENUM('gap', 'late', 'duplicate-version', 'drift') NOT NULL,
  field        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT ''
               COMMENT 'drift: the field whose prev differs; else empty',
  detail       VARCHAR(255) NOT NULL COMMENT 'what was expected, in words',
  log_id       SMALLINT UNSIGNED NOT NULL,
  seq          BIGINT UNSIGNED   NOT NULL,
  target_type  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id    VARCHAR(64) NOT NULL,
  occurred_at  BIGINT      NOT NULL,
  flagged_at   TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (event_id, flag, field),
  KEY data_event_flags_time (flag, occurred_at, event_id),
  KEY data_event_flags_target (target_type, target_id, occurred_at, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- How far each log's checker got: positions [0, checked_to) are checked.
-- The one table the writer's user may UPDATE (it is a bookmark, not the
-- log: losing it only makes the checker check again, finding the same
-- flags).
CREATE TABLE log_checked (
  log_id      SMALLINT UNSIGNED NOT NULL,
  checked_to  BIGINT UNSIGNED   NOT NULL,
  PRIMARY KEY (log_id)
) ENGINE=InnoDB;
