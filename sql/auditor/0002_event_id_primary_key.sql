-- The event id becomes the primary key. The surrogate seq cost a fourth
-- B-tree on every insert (the clustered index on seq beside the unique
-- index on event_id); clustering on the event id (UUIDv7, time-ordered,
-- so inserts append) keeps one tree for both, and the actor and target
-- indexes, which end in event_id already, carry no extra key.

ALTER TABLE data_events
  DROP PRIMARY KEY,
  DROP COLUMN seq,
  DROP KEY data_events_event_id,
  ADD PRIMARY KEY (event_id);
