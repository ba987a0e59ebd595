-- The demo's first user, as in the original proof of concept, an auditor
-- (README "Who may read the audit log"): the demo shows everyone's history
-- as this user, and the tests and benchmarks sign in as it.
--
-- Demo data, not schema: ./run.sh applies sql/demo/api/ to its own
-- databases after sql/api/; it is never installed, and auditlog-migrate
-- never applies it, so a production database has no user until the API
-- creates one. Written against the schema as sql/api/ leaves it (roles,
-- version), since a fresh database gets every schema migration first.
--
-- Recorded in schema_migrations under the name it had when it was
-- sql/api/0002, so a database seeded before the split is not seeded again.
INSERT INTO users (id, name, email, agreed_tos, roles)
VALUES (1, 'James Chavo', 'jim.chavo@happi.com', TRUE, 'auditor');
