/* The calendar of the monthly partitions (months.h). */
#include <stdio.h>

#include "months.h"

int months_of_day(uint32_t day)
{
	long z = (long)day + 719468; /* days since 0000-03-01 */
	long era = z / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153; /* March = 0 */
	long m = mp < 10 ? mp + 3 : mp - 9;
	long y = yoe + era * 400 + (m <= 2);
	return (int)(y * 12 + m - 1);
}

uint32_t months_first_day(int month)
{
	long y = month / 12, m = month % 12 + 1;
	y -= m <= 2;
	long era = y / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;
	return days < 0 ? 0 : (uint32_t)days;
}

void months_part_name(int month, char buf[16])
{
	snprintf(buf, 16, "p%04d%02d", month / 12 % 10000, month % 12 + 1);
}
