#include "b64.h"
#include "testhelp.h"

static void roundtrip(const char *in, const char *want)
{
	char out[64];
	unsigned char back[64];
	b64url_encode((const unsigned char *)in, strlen(in), out);
	CHECK_STR(out, want);
	CHECK_INT(b64url_encoded_len(strlen(in)), strlen(want));
	long n = b64url_decode(out, strlen(out), back);
	CHECK_INT(n, strlen(in));
	CHECK(n >= 0 && memcmp(back, in, (size_t)n) == 0);
}

int main(void)
{
	/* RFC 4648 test vectors, base64url alphabet, no padding. */
	roundtrip("", "");
	roundtrip("f", "Zg");
	roundtrip("fo", "Zm8");
	roundtrip("foo", "Zm9v");
	roundtrip("foob", "Zm9vYg");
	roundtrip("fooba", "Zm9vYmE");
	roundtrip("foobar", "Zm9vYmFy");
	roundtrip("\xfb\xff", "-_8");

	unsigned char buf[64];
	CHECK_INT(b64url_decode("Zm9v=", 5, buf), -1);  /* padding */
	CHECK_INT(b64url_decode("Zm+v", 4, buf), -1);   /* standard alphabet */
	CHECK_INT(b64url_decode("Zm9 v", 5, buf), -1);  /* space */
	CHECK_INT(b64url_decode("Z", 1, buf), -1);      /* impossible length */
	CHECK_INT(b64url_decode("Zh", 2, buf), -1);     /* stray bits: "Zg" is canonical */
	CHECK_INT(b64url_decode("Zm9\0", 4, buf), -1);  /* NUL */
	return test_report("b64");
}
