-- Event ids as their 16 bytes (services/auditor/sql_id.h).
--
-- Every event row is clustered on its id, and every index of data_events
-- ends in it; so do the change, value, mutation and flag rows. As text an
-- id is 36 bytes; as BINARY(16), in the order of its hex digits, it sorts
-- exactly as the text does (pages and cursors unchanged) and every key
-- holding it is 20 bytes shorter. The batched drain measured ~7% faster
-- (docs/performance.md, section 6). log_appends keeps the text form: it is
-- what a verifier reads (docs/ledger.md).

-- data_events
ALTER TABLE data_events ADD COLUMN event_bin BINARY(16) NULL AFTER event_id;
UPDATE data_events SET event_bin = UNHEX(REPLACE(event_id, '-', ''));
ALTER TABLE data_events
  DROP PRIMARY KEY,
  DROP KEY data_events_actor,
  DROP KEY data_events_target,
  DROP COLUMN event_id,
  CHANGE event_bin event_id BINARY(16) NOT NULL COMMENT 'the UUID''s 16 bytes (sql_id.h)',
  ADD PRIMARY KEY (event_id),
  ADD KEY data_events_actor (actor_type, actor_id, action, occurred_at, event_id),
  ADD KEY data_events_target (target_type, target_id, target_version, occurred_at, event_id);

-- data_event_changes
ALTER TABLE data_event_changes ADD COLUMN event_bin BINARY(16) NULL AFTER event_id;
UPDATE data_event_changes SET event_bin = UNHEX(REPLACE(event_id, '-', ''));
ALTER TABLE data_event_changes
  DROP PRIMARY KEY,
  DROP KEY data_event_changes_field,
  DROP KEY data_event_changes_actor,
  DROP COLUMN event_id,
  CHANGE event_bin event_id BINARY(16) NOT NULL,
  ADD PRIMARY KEY (event_id, field),
  ADD KEY data_event_changes_field (target_type, target_id, field, target_version, occurred_at, event_id),
  ADD KEY data_event_changes_actor (actor_type, actor_id, field, occurred_at, event_id);

-- data_event_values
ALTER TABLE data_event_values ADD COLUMN event_bin BINARY(16) NULL AFTER event_id;
UPDATE data_event_values SET event_bin = UNHEX(REPLACE(event_id, '-', ''));
ALTER TABLE data_event_values
  DROP PRIMARY KEY,
  DROP COLUMN event_id,
  CHANGE event_bin event_id BINARY(16) NOT NULL,
  ADD PRIMARY KEY (event_id, field);

-- data_event_mutations
ALTER TABLE data_event_mutations ADD COLUMN event_bin BINARY(16) NULL AFTER event_id;
UPDATE data_event_mutations SET event_bin = UNHEX(REPLACE(event_id, '-', ''));
ALTER TABLE data_event_mutations
  DROP KEY data_event_mutations_version,
  DROP KEY data_event_mutations_time,
  DROP COLUMN event_id,
  CHANGE event_bin event_id BINARY(16) NOT NULL,
  ADD KEY data_event_mutations_version (target_type, target_id, target_version, occurred_at, event_id),
  ADD KEY data_event_mutations_time (target_type, target_id, occurred_at, event_id);

-- data_event_flags
ALTER TABLE data_event_flags ADD COLUMN event_bin BINARY(16) NULL AFTER event_id;
UPDATE data_event_flags SET event_bin = UNHEX(REPLACE(event_id, '-', ''));
ALTER TABLE data_event_flags
  DROP PRIMARY KEY,
  DROP KEY data_event_flags_time,
  DROP KEY data_event_flags_target,
  DROP COLUMN event_id,
  CHANGE event_bin event_id BINARY(16) NOT NULL,
  ADD PRIMARY KEY (event_id, flag, field),
  ADD KEY data_event_flags_time (flag, occurred_at, event_id),
  ADD KEY data_event_flags_target (target_type, target_id, occurred_at, event_id);
