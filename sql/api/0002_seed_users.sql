-- The demo's first user, as in the original proof of concept.
INSERT INTO users (id, name, email, agreed_tos)
VALUES (1, 'James Chavo', 'jim.chavo@happi.com', TRUE);
