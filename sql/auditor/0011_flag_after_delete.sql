-- The checker's fifth flag kind (checker.h): a mutation whose target's
-- highest lower version deleted it, or a delete that came after a higher
-- version was checked. A change to a deleted object is what the API never
-- makes: a producer's bug, a replay or a forgery.
ALTER TABLE data_event_flags
  MODIFY flag ENUM('gap', 'late', 'duplicate-version', 'drift', 'after-delete') NOT NULL;
