-- Complete object histories (README "Versions and the order of a
-- history"). An event carries the version of its target that it produced
-- (a mutation) or read (a view), and a target's history is ordered by
-- version first, time second: a read of version n stands before the change
-- that made n + 1, whatever their clocks say. 0 stands for "no version"
-- (a producer that sends none, and every event stored before this
-- migration): such events sort first and keep their time order.

ALTER TABLE data_events
  ADD COLUMN target_version BIGINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'targetVersion, 1 to 2^53; 0 when the event has none' AFTER target_id,
  DROP KEY data_events_target,
  ADD KEY data_events_target (target_type, target_id, target_version, occurred_at, event_id);
