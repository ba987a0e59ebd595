-- data_event_mutations_event (0006) served a query the checker no longer
-- runs (it joined a change to its mutation by id): nothing reads it, and
-- every stored mutation paid for a B-tree. The id's uniqueness is
-- data_events' primary key's.
ALTER TABLE data_event_mutations DROP INDEX IF EXISTS data_event_mutations_event;
