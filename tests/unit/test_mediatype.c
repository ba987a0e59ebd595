#include "mediatype.h"
#include "testhelp.h"

#define J "application/vnd.api+json"

int main(void)
{
	/* Content-Type */
	const char *ok[] = {J,
	                    "Application/VND.API+JSON",
	                    J ";",
	                    J " ; ",
	                    J "; profile=x",
	                    J "; profile=\"https://example.com/a https://example.com/b\"",
	                    J ";PROFILE=\"a\";profile=b",
	                    J "; ext=\"\"",
	                    J "; ext=\"  \"",
	                    J "; profile=\"with \\\" quote, and comma\""};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		CHECK_INT(mediatype_content_type(ok[i]), MEDIATYPE_OK);
	const char *other[] = {NULL,
	                       "",
	                       "application/json",
	                       "text/plain",
	                       "*/*",
	                       "application",
	                       "application/",
	                       "/vnd.api+json",
	                       "application/vnd.api+jsonx",
	                       " ;" J};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		CHECK_INT(mediatype_content_type(other[i]), MEDIATYPE_OTHER);
	const char *param[] = {J "; charset=utf-8",
	                       J "; q=1",
	                       J "; version=1.1",
	                       J "; profile",
	                       J "; profile=",
	                       J "; profile=\"x",
	                       J "; profile=\"x\\",
	                       J " x",
	                       J ", " J,
	                       J "; =x",
	                       J "; profile=a b",
	                       J "; ext=\"a\"; charset=x"};
	for (size_t i = 0; i < sizeof param / sizeof param[0]; i++)
		CHECK_INT(mediatype_content_type(param[i]), MEDIATYPE_PARAMETER);
	CHECK_INT(mediatype_content_type(J "; ext=\"https://jsonapi.org/ext/atomic\""),
	          MEDIATYPE_EXTENSION);
	CHECK_INT(mediatype_content_type(J "; ext=x; profile=y"), MEDIATYPE_EXTENSION);

	/* Accept */
	const char *acceptable[] = {NULL,
	                            "",
	                            "*/*",
	                            "application/json",
	                            "text/html, */*;q=0.1",
	                            J,
	                            J "; profile=\"a,b\"",
	                            J "; ext=\"\"",
	                            J "; q=0.5",
	                            J ";q=1;charset=x",
	                            J "; charset=x, " J,
	                            J "; ext=\"https://x\", " J "; profile=p",
	                            ",, " J " ,",
	                            "garbage, " J,
	                            J "; q=0, " J "; q=0.1",
	                            J ";;profile=x",
	                            "application/*" /* not an instance of the type */};
	for (size_t i = 0; i < sizeof acceptable / sizeof acceptable[0]; i++)
		CHECK_INT(mediatype_accept(acceptable[i]), MEDIATYPE_OK);
	const char *refused[] = {J "; charset=utf-8",
	                         J "; q=0",
	                         J "; q=0.000",
	                         J "; profile=\"x",
	                         J "; version=1, " J "; charset=x",
	                         J "; profile=p; charset=x",
	                         "*/*, " J "; charset=x",
	                         J " junk"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		CHECK_INT(mediatype_accept(refused[i]), MEDIATYPE_PARAMETER);
	CHECK_INT(mediatype_accept(J "; ext=\"https://jsonapi.org/ext/atomic\""),
	          MEDIATYPE_EXTENSION);
	CHECK_INT(mediatype_accept(J "; version=1, " J "; ext=\"https://x\""), MEDIATYPE_EXTENSION);
	CHECK_INT(mediatype_accept(J "; ext=a, " J "; ext=\"b c\""), MEDIATYPE_EXTENSION);
	return test_report("mediatype");
}
