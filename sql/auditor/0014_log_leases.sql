-- Who writes each log (services/auditor/ledger.c, "leases"). A log has one
-- writer at a time; with several auditors (README "Partitions"), the one
-- the broker hands a partition to takes its log over by inserting the next
-- epoch, and every append checks, in its own transaction, that the newest
-- lease is still its own. The check reads that row with a shared lock and
-- the taking over reads it FOR UPDATE, so an append of the old writer either
-- commits before the new one reads the log's end, or fails: a writer that
-- lost the log cannot add to it (a fencing token).
--
-- Insert-only, like the log: the rows are the history of who wrote which
-- log from which position on.
CREATE TABLE log_leases (
  log_id INT UNSIGNED NOT NULL,
  epoch BIGINT UNSIGNED NOT NULL COMMENT '1, 2, 3, ... per log',
  writer VARCHAR(255) NOT NULL COMMENT 'host, process and port of the auditor',
  size BIGINT UNSIGNED NOT NULL COMMENT 'the log''s size when it was taken',
  taken_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id, epoch)
) ENGINE=InnoDB;
