-- The API's own data: users and notes, and the outbox that carries each
-- mutation's data event out of the same transaction as the mutation.

CREATE TABLE users (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name        VARCHAR(64)  NOT NULL,
  email       VARCHAR(128) NOT NULL COLLATE utf8mb4_unicode_ci,
  agreed_tos  BOOLEAN      NOT NULL DEFAULT FALSE,
  created_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE notes (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  creator_id  INT UNSIGNED NOT NULL,
  target_type VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  target_id   VARCHAR(64)  NOT NULL,
  field_name  VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  data        MEDIUMTEXT   NULL,
  created_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY notes_target (target_type, target_id, field_name, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Rows are written in the mutation's transaction and deleted by the relay
-- once the broker has confirmed the event. seq keeps them in commit order.
CREATE TABLE event_outbox (
  seq         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_id    CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  body        MEDIUMBLOB   NOT NULL,
  created_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (seq)
) ENGINE=InnoDB;
