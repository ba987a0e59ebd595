-- Roles travel in tokens as the "roles" claim. "auditor" may read the whole
-- audit log; without it a token reads only events whose actor or target is
-- its own user. Roles are granted here, by whoever administers the
-- database, never through the API.
ALTER TABLE users ADD COLUMN roles VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'comma-separated';
UPDATE users SET roles = 'auditor' WHERE id = 1;
