-- Filters (README "Filters"): every documented combination is answered
-- through an index whose columns end in the page's order.
--
-- The actor index gains the action: a query by actor reads one range per
-- action asked (all four when none is, merged), so "every delete by this
-- user last week" reads only deletes, however many views the user made.
-- One field's changes by one actor get their own index, on the change rows
-- (which only mutations have).

ALTER TABLE data_events
  DROP KEY data_events_actor,
  ADD KEY data_events_actor (actor_type, actor_id, action, occurred_at, event_id);

ALTER TABLE data_event_changes
  ADD KEY data_event_changes_actor (actor_type, actor_id, field, occurred_at, event_id);
