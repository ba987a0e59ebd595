#include "webpath.h"
#include "testhelp.h"

static void ok(const char *raw, const char *want)
{
	char out[256] = "";
	CHECK_INT(webpath_resolve(raw, out, sizeof out), 0);
	CHECK_STR(out, want);
}

int main(void)
{
	ok("/", "index.html");
	ok("/index.html", "index.html");
	ok("/app.js", "app.js");
	ok("/css/site.css", "css/site.css");
	ok("/docs/", "docs/index.html");
	ok("/a%20b.txt", "a b.txt");

	const char *refused[] = {
	    "",  "index.html", "/..", "/../etc/passwd", "/a/../../etc/passwd", "/%2e%2e/etc/passwd",
	    "/%2E%2E/x", "/.%2e/x", "/a%2f..%2f..%2fetc", "/a%2Fb", "/..%5c..%5cwin.ini",
	    "/a\\b", "/index.html%00.js", "/%00", "/a%0d%0aSet-Cookie:x", "/.git/config",
	    "/.hidden", "//etc/passwd", "/a//b", "/%", "/%zz", "/./index.html",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char out[256];
		int rc = webpath_resolve(refused[i], out, sizeof out);
		CHECK_INT(rc, -1);
		if (rc == 0)
			fprintf(stderr, "accepted %s as %s\n", refused[i], out);
	}
	char small[8];
	CHECK_INT(webpath_resolve("/averylongname.html", small, sizeof small), -1);

	CHECK_STR(webpath_content_type("index.html"), "text/html; charset=utf-8");
	CHECK_STR(webpath_content_type("a/app.js"), "text/javascript; charset=utf-8");
	CHECK_STR(webpath_content_type("style.css"), "text/css; charset=utf-8");
	CHECK_STR(webpath_content_type("x.bin"), "application/octet-stream");
	CHECK_STR(webpath_content_type("noext"), "application/octet-stream");
	return test_report("webpath");
}
