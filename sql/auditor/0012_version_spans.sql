-- Version spans (docs/performance.md section 8): for each block of 256
-- versions of a target (block = version >> 8), the earliest and the latest
-- time of its stored events. A time window on a target's history
-- (filter[target] with filter[since] or filter[until]) reads the blocks
-- whose span meets the window, then only those versions of the history:
-- exact, since every event of the window lies in such a block, and the walk
-- past the window's ends is at most one block, not every newer version.
--
-- Derived from data_events, like data_event_mutations, and written by the
-- writer in the same transaction as the events. The one table the writer
-- may UPDATE beside its bookmark (log_checked): a span only ever widens
-- (LEAST / GREATEST), and it is not the log; a forged narrow span can hide
-- an event from a window, never change what is stored or what the tree
-- proves. Events without a version (0) have no span: their window is a
-- range of data_events_target itself.
CREATE TABLE data_event_version_spans (
  target_type  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id    VARCHAR(64) NOT NULL,
  block        BIGINT UNSIGNED NOT NULL COMMENT 'target_version >> 8',
  first_at     BIGINT NOT NULL COMMENT 'earliest occurred_at of the block''s events, ms',
  last_at      BIGINT NOT NULL COMMENT 'latest occurred_at of the block''s events, ms',
  PRIMARY KEY (target_type, target_id, block)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO data_event_version_spans (target_type, target_id, block, first_at, last_at)
  SELECT target_type, target_id, target_version >> 8, MIN(occurred_at), MAX(occurred_at)
    FROM data_events WHERE target_version > 0
   GROUP BY target_type, target_id, target_version >> 8;
