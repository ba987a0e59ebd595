-- Roles travel in tokens as the "roles" claim. "auditor" may read the whole
-- audit log; without it a token reads only events whose actor or target is
-- its own user. Roles are granted here, by whoever administers the
-- database, never through the API.
--
-- Nobody has a role after this migration: the demo's auditor (user 1) gets
-- its role from the demo's data (sql/demo/api/0002_seed_users.sql), which
-- a production database never receives. (This file once also made user 1
-- an auditor here; databases that applied it are unchanged.)
ALTER TABLE users ADD COLUMN roles VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'comma-separated';
