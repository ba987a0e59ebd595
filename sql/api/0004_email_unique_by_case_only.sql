-- An e-mail address is unique regardless of case, and of nothing else.
--
-- utf8mb4_unicode_ci (the old key's collation) also ignores accents, reads
-- "ß" as "ss" and gives many emoji one weight, so it refused distinct
-- addresses. utf8mb4_uca1400_as_ci is no answer either: it still equates
-- compatibility forms ("ﬁ" and "fi", "Ａ" and "A"), ignorable characters
-- (a soft hyphen, NUL), canonically equivalent sequences and trailing
-- spaces.
--
-- So the key is a byte string: the address under Unicode simple case
-- folding (CaseFolding.txt, statuses C and S), compared byte for byte.
-- MariaDB has no case-folding function, but LOWER(UPPER(x)) under a
-- uca1400 collation (Unicode 14 one-to-one case mappings) puts every
-- assigned code point in the same class as simple case folding does,
-- except the Turkic dotted capital and dotless small i ("İ", "ı"), which it
-- would merge with "i". Those two are first escaped to "%2" and "%1", with
-- "%" itself escaped to "%%", so they stay distinct and no other address
-- can produce their escape. Checked against Unicode 14's simple case
-- folding for all 144,757 assigned code points when this was written.
-- Every mapping keeps the number of code points, so the key of a
-- 128-character address fits in 1024 bytes. (The two letters are written
-- as their UTF-8 bytes so that the client's character set cannot change
-- them; a _utf8mb4 x'..' literal would not do: MariaDB 10.11 stores it in
-- the column's definition as text that reads back as 'xC4xB1'.)
--
-- Existing rows that differ only in the case of letters the old collation
-- did not know (Unicode 5.0 and later, such as "ẞ" and "ß") make this
-- migration stop with a duplicate-key error: change one of the two
-- addresses and run it again.

ALTER TABLE users
  DROP KEY users_email,
  MODIFY email VARCHAR(128) NOT NULL COLLATE utf8mb4_bin,
  ADD COLUMN email_key VARBINARY(1024)
    AS (LOWER(UPPER(REPLACE(REPLACE(REPLACE(email COLLATE utf8mb4_bin, '%', '%%'),
                                    CHAR(0xC4B1 USING utf8mb4) /* ı */, '%1'),
                            CHAR(0xC4B0 USING utf8mb4) /* İ */, '%2') COLLATE utf8mb4_uca1400_as_ci)))
    STORED
    COMMENT 'email under simple case folding: the uniqueness key',
  ADD UNIQUE KEY users_email_key (email_key);
