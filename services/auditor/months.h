/* months: the calendar of the event tables' monthly partitions
 * (retention.h): days since 1970-01-01 (UTC; what stored_day holds), month
 * numbers, and the partitions' names. Pure: proleptic Gregorian calendar,
 * the civil-from-days and days-from-civil algorithms of H. Hinnant's
 * "chrono-Compatible Low-Level Date Algorithms"; no time zone, no libc
 * calendar. */
#ifndef AUDITLOG_MONTHS_H
#define AUDITLOG_MONTHS_H

#include <stdint.h>

/* A month number: year * 12 + (month - 1); 2026-12 is 24323. */
int months_of_day(uint32_t day);
/* The day the month begins (days since 1970-01-01; 0 for months before). */
uint32_t months_first_day(int month);
/* The month's partition name, "pYYYYMM" (the year's last four digits),
 * NUL-terminated in buf. */
void months_part_name(int month, char buf[16]);

#endif
