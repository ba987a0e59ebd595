/* months.h: month numbers and first days against a day-by-day walk of the
 * Gregorian calendar from 1970 to 2179 (SMALLINT UNSIGNED days end in
 * 2149), and the partitions' names. */
#include <stdbool.h>

#include "months.h"
#include "testhelp.h"

static int days_in(int year, int month) /* month 1..12 */
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return d[month - 1] + (month == 2 && leap);
}

int main(void)
{
	uint32_t day = 0;
	for (int year = 1970; year < 2180; year++)
		for (int month = 1; month <= 12; month++) {
			int number = year * 12 + month - 1;
			CHECK_INT(months_first_day(number), day);
			int n = days_in(year, month);
			CHECK_INT(months_of_day(day), number);
			CHECK_INT(months_of_day(day + (uint32_t)n - 1), number);
			day += (uint32_t)n;
		}
	/* Fixed points: 2026-12-07 is day 20794; 2000-03-01 is 11017. */
	CHECK_INT(months_of_day(20794), 2026 * 12 + 11);
	CHECK_INT(months_first_day(2027 * 12), 20819);
	CHECK_INT(months_first_day(2000 * 12 + 2), 11017);
	CHECK_INT(months_first_day(1969 * 12), 0);
	char name[16];
	months_part_name(2026 * 12 + 11, name);
	CHECK_STR(name, "p202612");
	months_part_name(2027 * 12, name);
	CHECK_STR(name, "p202701");
	return test_report("months");
}
