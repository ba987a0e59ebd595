-- Positions are kept per append, not per event (docs/ledger.md, "Storage").
--
-- Until now every event row carried its position as the clustered key
-- (log_id, seq) and its leaf hash, and the event id needed a unique index
-- of its own: four B-trees per event, where the log before the log of
-- record had three. The fourth cost the drain ~4 us of MariaDB CPU an event
-- (docs/performance.md section 6). Now one row of log_appends holds what one
-- append of the writer gave: its first position, the ids of its events in
-- position order and their leaf hashes. The event rows are clustered on
-- their id again; they keep log_id and seq as plain columns (what a
-- data-events resource shows, and what /verify checks against the append).

CREATE TABLE log_appends (
  log_id       SMALLINT UNSIGNED NOT NULL,
  first_seq    BIGINT UNSIGNED   NOT NULL COMMENT 'the first position this append gave',
  event_ids    MEDIUMBLOB        NOT NULL COMMENT 'the ids at first_seq, first_seq + 1, ...: 36 ASCII bytes each',
  leaf_hashes  MEDIUMBLOB        NOT NULL COMMENT 'their leaf hashes, SHA-256(0x00 || leaf), 32 bytes each, same order',
  PRIMARY KEY (log_id, first_seq)
) ENGINE=InnoDB;

-- Every event stored so far becomes an append of one.
INSERT INTO log_appends (log_id, first_seq, event_ids, leaf_hashes)
  SELECT log_id, seq, CAST(event_id AS BINARY), leaf_hash FROM data_events;

ALTER TABLE data_events
  DROP PRIMARY KEY,
  DROP KEY data_events_event_id,
  ADD PRIMARY KEY (event_id),
  DROP COLUMN leaf_hash;
