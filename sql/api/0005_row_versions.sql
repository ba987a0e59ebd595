-- Every row carries a version: 1 when created, + 1 in each transaction
-- that changes it (the delete's event names the version after the last).
-- Every data event names the version it produced or read (targetVersion),
-- so the audit log orders a history by version first and notices a
-- version that never arrived. Rows that exist already start at 1.

ALTER TABLE users ADD COLUMN version BIGINT UNSIGNED NOT NULL DEFAULT 1
  COMMENT 'the data events targetVersion';
ALTER TABLE notes ADD COLUMN version BIGINT UNSIGNED NOT NULL DEFAULT 1
  COMMENT 'the data events targetVersion';
