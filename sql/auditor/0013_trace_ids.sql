-- The W3C trace-id of the request that made each event (README "Tracing"):
-- the event's traceId, also a member of its leaf (docs/ledger.md), so one
-- request's events can be found from its log lines and its traceparent,
-- and back.
--
-- BINARY(16), not CHAR(32): the id is 16 random bytes, written as 32 hex
-- digits only at the edge (services/auditor/sql_id.h, SQL_TRACE), as the
-- event ids are since 0010. Half the bytes in the row, and in each entry of
-- the index below (which also carries the 16-byte primary key); lookups
-- bind the text and UNHEX it. NULL for events without one: those stored
-- before this migration, and those of producers that send none.
--
-- The index answers filter[traceId] (services/auditor/query_plan.c): the few
-- events of one request, in time order, with the page's keyset columns.
ALTER TABLE data_events
  ADD COLUMN trace_id BINARY(16) NULL COMMENT 'W3C trace-id of the request that made it',
  ADD KEY data_events_trace (trace_id, occurred_at, event_id);
