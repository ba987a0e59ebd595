#include "webpath.h"

#include <string.h>

#include "query.h"

int webpath_resolve(const char *raw, char *out, size_t cap)
{
	size_t len = strlen(raw);
	if (raw[0] != '/' || len >= cap || len > 1024)
		return -1;
	size_t o = 0;
	const char *p = raw + 1, *end = raw + len;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		if (!slash)
			slash = end;
		char seg[1025];
		long n = query_unescape(p, (size_t)(slash - p), seg, false);
		if (n < 0)
			return -1;
		if (n == 0) {
			if (slash != end) /* "//" */
				return -1;
			break;
		}
		if (seg[0] == '.' || memchr(seg, '/', (size_t)n) || memchr(seg, '\\', (size_t)n))
			return -1;
		if (o + (o ? 1 : 0) + (size_t)n + 1 > cap)
			return -1;
		if (o)
			out[o++] = '/';
		memcpy(out + o, seg, (size_t)n);
		o += (size_t)n;
		p = slash + 1;
	}
	if (o == 0 || raw[len - 1] == '/') {
		static const char index[] = "index.html";
		if (o + (o ? 1 : 0) + sizeof index > cap)
			return -1;
		if (o)
			out[o++] = '/';
		memcpy(out + o, index, sizeof index);
		return 0;
	}
	out[o] = '\0';
	return 0;
}

const char *webpath_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
			if (!strcmp(dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}
