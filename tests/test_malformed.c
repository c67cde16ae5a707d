/*
 * test_malformed.c - hostile input: every malformed archive must give an
 * error code with a message (or load, when a change is harmless), and never
 * crash, hang or leak.
 *
 *  - truncation of every fixture (tests/data/good-*, tests/data/legacy/)
 *    at ~56 offsets: evenly
 *    spaced, plus every byte of the last 24 and a stride over the central
 *    directory; a truncated archive must fail
 *  - random byte flips at fixed seeds (xorshift): 1 to 8 bytes per case,
 *    a third anywhere, a third in the central directory, a third in
 *    data.pkl/constants.pkl (model.json for legacy archives)
 *  - targeted corruptions, made here in memory with a small stored-zip
 *    writer (zw_*), a pickle builder (pk_*) and a fixed-Huffman deflate
 *    writer for zip bombs: zip bomb (declared and real size differ, huge
 *    ratio), negative/huge shapes and strides, numel x itemsize overflow,
 *    storage smaller than the view, memo index out of range, BINGET of an
 *    unset slot, deeply nested lists, recursive structures, unknown GLOBALs
 *    (`os system`), a persistent id naming a missing record, two records
 *    with the same name, a record overlapping the central directory, and
 *    every limit of tsl_options.
 *
 * Each case runs the whole path (open from a buffer, load, materialize,
 * hash every tensor and storage, read every extra file) under alarm(): a
 * hang aborts with the case's name.  The number of cases is printed.
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>

#include "testutil.h"

/* seconds one case may take (sanitizers included) */
#define CASE_TIMEOUT 30

static unsigned long n_cases, n_failed_ok, n_loaded;
static char case_name[256];
static bool verbose; /* TSL_MALFORMED_VERBOSE=1: print each case's name */
static const char *save_path; /* TSL_MALFORMED_SAVE=path: each case's input */

static void on_alarm(int sig)
{
	static const char msg[] = "test_malformed: timeout in case ";

	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0 ||
		write(2, case_name, strlen(case_name)) < 0 ||
		write(2, "\n", 1) < 0)
		abort();
	abort();
}

/* ------------------------------------------------------------------------ */
/* running one case                                                          */
/* ------------------------------------------------------------------------ */

/* views hashed by tsl_tensor_xxh3 are at most this big (a zero-stride view
 * over one element may legally be huge) */
#define MAX_HASH_BYTES (64u << 20)

static int on_tensor(void *payload, const char *name, const tsl_tensor *t)
{
	tsl_error *err = payload;
	uint64_t numel = tsl_tensor_numel(t), h;
	size_t isz = tsl_dtype_size(tsl_tensor_dtype(t));

	(void)name;
	if (numel > MAX_HASH_BYTES || numel * (isz + 1) > MAX_HASH_BYTES)
		return 0;
	return tsl_tensor_xxh3(t, &h, err);
}

/* A failure must carry its code in err and a message. */
static char first_msg[300];

static void check_fail(int rc, const tsl_error *err, const char *step)
{
	if (rc >= 0)
		return;
	if (!first_msg[0])
		snprintf(first_msg, sizeof first_msg, "%s: %s", step,
			err->message);
	if (err->code != rc || !err->message[0])
		fail_msg("%s: %s failed with %s but err.code %s, message '%s'",
			case_name, step, tsl_status_name(rc),
			tsl_status_name(err->code), err->message);
	if (!tsl_status_name(rc))
		fail_msg("%s: unknown status %d", case_name, rc);
}

/* The whole path over data[0..size); returns the first failure (< 0) or
 * TSL_OK (or a positive warning). */
static int run_buffer(const uint8_t *data, size_t size,
	const tsl_options *opts)
{
	tsl_archive *ar = NULL;
	tsl_model *m = NULL;
	tsl_error err;
	int rc, first = TSL_OK;
	size_t n;

	memset(&err, 0, sizeof err);
	rc = tsl_archive_open_buffer(&ar, data, size, opts, &err);
	check_fail(rc, &err, "tsl_archive_open_buffer");
	if (rc < 0) {
		if (ar)
			fail_msg("%s: archive set on failure", case_name);
		return rc;
	}
	memset(&err, 0, sizeof err);
	rc = tsl_model_load(&m, ar, opts, &err);
	check_fail(rc, &err, "tsl_model_load");
	if (rc < 0) {
		if (m)
			fail_msg("%s: model set on failure", case_name);
		first = rc;
		goto extras;
	}
	memset(&err, 0, sizeof err);
	rc = tsl_model_materialize(m, 1, &err);
	check_fail(rc, &err, "tsl_model_materialize");
	if (rc < 0 && first == TSL_OK)
		first = rc;
	n = tsl_model_storage_count(m);
	for (size_t i = 0; i < n; i++) {
		uint64_t h;

		memset(&err, 0, sizeof err);
		rc = tsl_storage_xxh3(tsl_model_storage(m, i), &h, &err);
		check_fail(rc, &err, "tsl_storage_xxh3");
		if (rc < 0 && first == TSL_OK)
			first = rc;
	}
	memset(&err, 0, sizeof err);
	rc = tsl_module_state_dict(tsl_model_root(m), on_tensor, &err);
	if (rc < 0 && err.code) {
		check_fail(rc, &err, "tsl_tensor_xxh3");
		if (first == TSL_OK)
			first = rc;
	}
extras:
	n = tsl_archive_extra_count(ar);
	for (size_t i = 0; i < n; i++) {
		const void *p;
		size_t len;

		memset(&err, 0, sizeof err);
		rc = tsl_archive_extra_read(ar, tsl_archive_extra_name(ar, i),
			&p, &len, &err);
		check_fail(rc, &err, "tsl_archive_extra_read");
		if (rc < 0 && first == TSL_OK)
			first = rc;
	}
	tsl_model_free(m);
	tsl_archive_free(ar);
	return first;
}

enum expect { EXPECT_FAIL, EXPECT_ANY, EXPECT_OK };

/* Run one case on a private exact-size copy (so that ASan sees any read
 * past the end).  `want`: for EXPECT_FAIL, 0 for any error code, else the
 * code that must come first. */
static int run_case(const uint8_t *data, size_t size, const tsl_options *opts,
	enum expect ex, int want)
{
	uint8_t *copy = malloc(size ? size : 1);
	int rc;

	if (!copy)
		fail_msg("out of memory");
	memcpy(copy, data, size);
	n_cases++;
	if (verbose)
		fprintf(stderr, "case %lu: %s\n", n_cases, case_name);
	if (save_path) { /* the input of the case that crashes stays there */
		FILE *f = fopen(save_path, "wb");

		if (f) {
			fwrite(data, 1, size, f);
			fclose(f);
		}
	}
	first_msg[0] = '\0';
	alarm(CASE_TIMEOUT);
	rc = run_buffer(copy, size, opts);
	alarm(0);
	if (verbose)
		fprintf(stderr, "  -> %s %s\n", tsl_status_name(rc),
			rc < 0 ? first_msg : "");
	free(copy);
	if (rc < 0)
		n_failed_ok++;
	else
		n_loaded++;
	if (ex == EXPECT_FAIL && rc >= 0)
		fail_msg("%s: loaded, but must fail", case_name);
	if (ex == EXPECT_FAIL && want && rc != want)
		fail_msg("%s: failed with %s, expected %s", case_name,
			tsl_status_name(rc), tsl_status_name(want));
	if (ex == EXPECT_OK && rc < 0)
		fail_msg("%s: failed with %s, expected success", case_name,
			tsl_status_name(rc));
	return rc;
}

/* ------------------------------------------------------------------------ */
/* fixtures                                                                  */
/* ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the good-* archives and of the .pt files in legacy/
 * (NULL-terminated, malloc'd). */
static char **list_fixtures(size_t *count)
{
	char *dir = data_path("");
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		fail_msg("cannot open %s", dir);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (strncmp(de->d_name, "good-", 5) != 0 ||
			(l < 3 || (strcmp(de->d_name + l - 3, ".pt") != 0 &&
			strcmp(de->d_name + l - 4, ".ptl") != 0)))
			continue;
		v = realloc(v, (n + 2) * sizeof *v);
		if (!v || !(v[n] = strdup(de->d_name)))
			fail_msg("out of memory");
		n++;
	}
	closedir(d);
	free(dir);
	/* the legacy (model.json) fixtures too, as "legacy/<name>" */
	dir = data_path("legacy");
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);

			if (l < 4 || strcmp(de->d_name + l - 3, ".pt") != 0)
				continue;
			v = realloc(v, (n + 2) * sizeof *v);
			if (!v || !(v[n] = malloc(l + 8)))
				fail_msg("out of memory");
			snprintf(v[n], l + 8, "legacy/%s", de->d_name);
			n++;
		}
		closedir(d);
	}
	free(dir);
	if (!n)
		fail_msg("no fixtures");
	qsort(v, n, sizeof *v, cmp_str);
	v[n] = NULL;
	*count = n;
	return v;
}

static void free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static uint8_t *load_fixture(const char *name, size_t *size)
{
	char *p = data_path(name);
	uint8_t *b = read_file_or_fail(p, size);

	free(p);
	return b;
}

/* offset of the central directory (from the EOCD), or size/2 */
static size_t cd_offset(const uint8_t *b, size_t size)
{
	for (size_t i = size >= 22 ? size - 22 : 0; i + 22 <= size && i > 0;
		i--)
		if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 5 &&
			b[i + 3] == 6) {
			uint32_t off = (uint32_t)b[i + 16] |
				((uint32_t)b[i + 17] << 8) |
				((uint32_t)b[i + 18] << 16) |
				((uint32_t)b[i + 19] << 24);

			if (off == 0xffffffffu) /* zip64: near the end anyway */
				return i > 4096 ? i - 4096 : 0;
			return off < size ? off : size / 2;
		}
	return size / 2;
}

/* [off, off+len) of a record of the fixture, through the public API */
static bool record_range(const uint8_t *b, size_t size, const char *name,
	size_t *off, size_t *len)
{
	tsl_archive *ar = NULL;
	tsl_record_info info;
	uint64_t o;
	size_t idx;
	bool ok = false;

	if (tsl_archive_open_buffer(&ar, b, size, NULL, NULL) != TSL_OK)
		return false;
	if (tsl_archive_find(ar, name, &idx) == TSL_OK &&
		tsl_archive_record(ar, idx, &info) == TSL_OK &&
		tsl_archive_record_data_offset(ar, idx, &o, NULL) == TSL_OK &&
		info.compressed_size > 0 && o + info.compressed_size <= size) {
		*off = (size_t)o;
		*len = (size_t)info.compressed_size;
		ok = true;
	}
	tsl_archive_free(ar);
	return ok;
}

/* ------------------------------------------------------------------------ */
/* truncation                                                                */
/* ------------------------------------------------------------------------ */

#define TRUNC_EVEN 24   /* evenly spaced offsets per fixture */
#define TRUNC_TAIL 24   /* each of the last bytes */
#define TRUNC_CD 8      /* spread over the central directory */

static void test_truncation(void **state)
{
	size_t nfix;
	char **fix = list_fixtures(&nfix);
	unsigned long before = n_cases;

	(void)state;
	for (size_t f = 0; f < nfix; f++) {
		size_t size, cd;
		uint8_t *b = load_fixture(fix[f], &size);

		cd = cd_offset(b, size);
		for (int i = 0; i < TRUNC_EVEN; i++) {
			size_t at = (size_t)((uint64_t)size * (uint64_t)i /
				TRUNC_EVEN);

			snprintf(case_name, sizeof case_name,
				"%s truncated to %zu", fix[f], at);
			run_case(b, at, NULL, EXPECT_FAIL, 0);
		}
		for (int i = 1; i <= TRUNC_TAIL && (size_t)i < size; i++) {
			snprintf(case_name, sizeof case_name,
				"%s truncated to %zu", fix[f], size - (size_t)i);
			run_case(b, size - (size_t)i, NULL, EXPECT_FAIL, 0);
		}
		for (int i = 1; i <= TRUNC_CD; i++) {
			size_t at = cd + (size - cd) * (size_t)i /
				(TRUNC_CD + 1);

			snprintf(case_name, sizeof case_name,
				"%s truncated to %zu (central directory)",
				fix[f], at);
			run_case(b, at, NULL, EXPECT_FAIL, 0);
		}
		free(b);
	}
	free_list(fix);
	printf("truncation: %lu cases\n", n_cases - before);
}

/* ------------------------------------------------------------------------ */
/* random byte flips                                                         */
/* ------------------------------------------------------------------------ */

#define FLIP_SEEDS 40   /* cases per fixture */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void test_byte_flips(void **state)
{
	size_t nfix;
	char **fix = list_fixtures(&nfix);
	unsigned long before = n_cases, loaded = n_loaded;
	tsl_options o;

	(void)state;
	/* "cpu": a flipped CUDA fixture gets past the device check */
	tsl_options_init(&o, TSL_OPTIONS_VERSION);
	o.map_location = "cpu";
	for (size_t f = 0; f < nfix; f++) {
		size_t size, cd, poff = 0, plen = 0, coff = 0, clen = 0;
		uint8_t *b = load_fixture(fix[f], &size);
		uint8_t *w = malloc(size);

		if (!w)
			fail_msg("out of memory");
		cd = cd_offset(b, size);
		/* the metadata: data.pkl, or model.json (legacy), else the
		 * central directory */
		if (!record_range(b, size, "data.pkl", &poff, &plen) &&
			!record_range(b, size, "model.json", &poff, &plen)) {
			poff = cd;
			plen = size - cd;
		}
		(void)record_range(b, size, "constants.pkl", &coff, &clen);
		for (uint64_t seed = 1; seed <= FLIP_SEEDS; seed++) {
			uint64_t s = seed * 0x9e3779b97f4a7c15ull + f;
			int nflip = 1 + (int)(rng_next(&s) % 8);
			char *p = case_name;

			memcpy(w, b, size);
			p += snprintf(case_name, sizeof case_name,
				"%s seed %llu flips", fix[f],
				(unsigned long long)seed);
			for (int k = 0; k < nflip; k++) {
				uint64_t r = rng_next(&s);
				size_t at;

				switch (seed % 3) {
				case 0:
					at = (size_t)(r % size);
					break;
				case 1:
					at = cd + (size_t)(r % (size - cd));
					break;
				default:
					if (clen && (r & 1))
						at = coff + (size_t)(r % clen);
					else
						at = poff + (size_t)(r % plen);
				}
				w[at] ^= (uint8_t)(1 + (rng_next(&s) % 255));
				if (p < case_name + sizeof case_name - 16)
					p += snprintf(p, (size_t)(case_name +
						sizeof case_name - p), " @%zu", at);
			}
			run_case(w, size, &o, EXPECT_ANY, 0);
		}
		free(w);
		free(b);
	}
	free_list(fix);
	printf("byte flips: %lu cases (%lu harmless: loaded)\n",
		n_cases - before, n_loaded - loaded);
}

/* ------------------------------------------------------------------------ */
/* builders: bytes, pickles, deflate, zip                                    */
/* ------------------------------------------------------------------------ */

typedef struct buf {
	uint8_t *p;
	size_t len, cap;
} buf;

static void b_reserve(buf *b, size_t more)
{
	if (b->len + more > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + more)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			fail_msg("out of memory");
		b->cap = cap;
	}
}

static void b_bytes(buf *b, const void *p, size_t n)
{
	b_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void b_u8(buf *b, uint8_t v)
{
	b_bytes(b, &v, 1);
}

static void b_u16(buf *b, uint16_t v)
{
	b_u8(b, (uint8_t)v);
	b_u8(b, (uint8_t)(v >> 8));
}

static void b_u32(buf *b, uint32_t v)
{
	b_u16(b, (uint16_t)v);
	b_u16(b, (uint16_t)(v >> 16));
}

static void b_str(buf *b, const char *s)
{
	b_bytes(b, s, strlen(s));
}

static void b_free(buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* --- pickles (protocol 2) --- */

static void pk_op(buf *b, uint8_t op)
{
	b_u8(b, op);
}

static void pk_global(buf *b, const char *mod, const char *name)
{
	b_u8(b, 'c');
	b_str(b, mod);
	b_u8(b, '\n');
	b_str(b, name);
	b_u8(b, '\n');
}

static void pk_str(buf *b, const char *s)
{
	b_u8(b, 'X');
	b_u32(b, (uint32_t)strlen(s));
	b_str(b, s);
}

static void pk_int(buf *b, int64_t v)
{
	if (v >= 0 && v < 256) {
		b_u8(b, 'K');
		b_u8(b, (uint8_t)v);
	} else if (v >= INT32_MIN && v <= INT32_MAX) {
		b_u8(b, 'J');
		b_u32(b, (uint32_t)(int32_t)v);
	} else {
		b_u8(b, 0x8a); /* LONG1, 8 bytes two's complement */
		b_u8(b, 8);
		b_u32(b, (uint32_t)(uint64_t)v);
		b_u32(b, (uint32_t)((uint64_t)v >> 32));
	}
}

static void pk_put(buf *b, uint8_t i)
{
	b_u8(b, 'q');
	b_u8(b, i);
}

static void pk_get(buf *b, uint8_t i)
{
	b_u8(b, 'h');
	b_u8(b, i);
}

/* a tensor description for pk_tensor */
typedef struct tdesc {
	const char *storage;   /* "FloatStorage" */
	const char *key;       /* record under data/ */
	int64_t numel;         /* storage numel */
	int64_t offset;
	int ndim;
	int64_t shape[80];
	int64_t stride[80];
} tdesc;

static void pk_tensor(buf *b, const tdesc *t)
{
	pk_global(b, "torch._utils", "_rebuild_tensor_v2");
	pk_op(b, '(');
	pk_op(b, '(');
	pk_str(b, "storage");
	pk_global(b, "torch", t->storage);
	pk_str(b, t->key);
	pk_str(b, "cpu");
	pk_int(b, t->numel);
	pk_op(b, 't');
	pk_op(b, 'Q');
	pk_int(b, t->offset);
	pk_op(b, '(');
	for (int i = 0; i < t->ndim; i++)
		pk_int(b, t->shape[i]);
	pk_op(b, 't');
	pk_op(b, '(');
	for (int i = 0; i < t->ndim; i++)
		pk_int(b, t->stride[i]);
	pk_op(b, 't');
	pk_op(b, 0x89); /* requires_grad False */
	pk_global(b, "collections", "OrderedDict");
	pk_op(b, ')');
	pk_op(b, 'R');
	pk_op(b, 't');
	pk_op(b, 'R');
}

/* data.pkl of a module __torch__.M {training: True, t: <tensor>, x: <raw>}
 * where `raw` (optional) is pickle code pushing one value */
static void pk_model(buf *b, const tdesc *t, const buf *raw)
{
	pk_op(b, 0x80);
	pk_op(b, 2);
	pk_global(b, "__torch__", "M");
	pk_op(b, ')');
	pk_op(b, 0x81);
	pk_op(b, '}');
	pk_op(b, '(');
	pk_str(b, "training");
	pk_op(b, 0x88);
	if (t) {
		pk_str(b, "t");
		pk_tensor(b, t);
	}
	if (raw) {
		pk_str(b, "x");
		b_bytes(b, raw->p, raw->len);
	}
	pk_op(b, 'u');
	pk_op(b, 'b');
	pk_op(b, '.');
}

/* --- deflate --- */

/* stored deflate blocks holding data[0..n) */
static void df_stored(buf *b, const uint8_t *data, size_t n)
{
	do {
		size_t k = n > 65535 ? 65535 : n;

		b_u8(b, n == k ? 1 : 0);
		b_u16(b, (uint16_t)k);
		b_u16(b, (uint16_t)~k);
		b_bytes(b, data, k);
		data += k;
		n -= k;
	} while (n);
}

typedef struct bits {
	buf *b;
	uint32_t acc;
	int n;
} bits;

static void bits_put(bits *w, uint32_t v, int n) /* LSB first */
{
	for (int i = 0; i < n; i++) {
		w->acc |= ((v >> i) & 1u) << w->n;
		if (++w->n == 8) {
			b_u8(w->b, (uint8_t)w->acc);
			w->acc = 0;
			w->n = 0;
		}
	}
}

static void bits_huff(bits *w, uint32_t code, int n) /* MSB first */
{
	for (int i = n - 1; i >= 0; i--)
		bits_put(w, (code >> i) & 1u, 1);
}

/* n zero bytes as one fixed-Huffman block: a literal 0, then copies of 258
 * bytes at distance 1 (13 bits each: ratio about 160) */
static void df_zeros(buf *b, uint64_t n)
{
	bits w = { b, 0, 0 };

	bits_put(&w, 1, 1); /* BFINAL */
	bits_put(&w, 1, 2); /* fixed Huffman */
	if (n) {
		bits_huff(&w, 0x30, 8); /* literal 0 */
		n--;
	}
	for (; n >= 258; n -= 258) {
		bits_huff(&w, 0xc5, 8); /* length 258: symbol 285 */
		bits_huff(&w, 0, 5);    /* distance 1 */
	}
	for (; n; n--)
		bits_huff(&w, 0x30, 8);
	bits_huff(&w, 0, 7);            /* end of block */
	if (w.n)
		bits_put(&w, 0, 8 - w.n);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

/* --- a stored zip writer --- */

#define ZW_MAX 64

typedef struct zw_rec {
	char name[512];       /* room for a long storage key */
	uint16_t method, flags;
	uint32_t crc, csize, usize, lho;
} zw_rec;

typedef struct zw {
	buf b;
	zw_rec r[ZW_MAX];
	int n;
	uint32_t cd_off, cd_size;
} zw;

/* a record with the given (possibly false) header values; payload is the
 * compressed bytes */
static zw_rec *zw_add_raw(zw *z, const char *name, uint16_t method,
	const void *payload, size_t plen, uint32_t usize, uint32_t crc)
{
	zw_rec *r;

	if (z->n == ZW_MAX)
		fail_msg("zw: too many records");
	r = &z->r[z->n++];
	snprintf(r->name, sizeof r->name, "m/%s", name);
	r->method = method;
	r->flags = 0;
	r->crc = crc;
	r->csize = (uint32_t)plen;
	r->usize = usize;
	r->lho = (uint32_t)z->b.len;
	b_u32(&z->b, 0x04034b50u);
	b_u16(&z->b, 20);
	b_u16(&z->b, r->flags);
	b_u16(&z->b, method);
	b_u32(&z->b, 0); /* time, date */
	b_u32(&z->b, crc);
	b_u32(&z->b, r->csize);
	b_u32(&z->b, usize);
	b_u16(&z->b, (uint16_t)strlen(r->name));
	b_u16(&z->b, 0);
	b_str(&z->b, r->name);
	b_bytes(&z->b, payload, plen);
	return r;
}

static zw_rec *zw_add(zw *z, const char *name, const void *data, size_t len)
{
	return zw_add_raw(z, name, 0, data, len, (uint32_t)len,
		crc32_of(data, len));
}

static zw_rec *zw_add_str(zw *z, const char *name, const char *s)
{
	return zw_add(z, name, s, strlen(s));
}

/* deflated: stored deflate blocks of data, real sizes unless usize is
 * given (!= UINT32_MAX) */
static zw_rec *zw_add_deflated(zw *z, const char *name, const uint8_t *data,
	size_t len, uint32_t usize)
{
	buf d = { 0 };
	zw_rec *r;

	df_stored(&d, data, len);
	r = zw_add_raw(z, name, 8, d.p, d.len,
		usize == UINT32_MAX ? (uint32_t)len : usize,
		crc32_of(data, len));
	b_free(&d);
	return r;
}

/* central directory and EOCD; the records' (possibly tweaked) values */
static void zw_finish(zw *z)
{
	z->cd_off = (uint32_t)z->b.len;
	for (int i = 0; i < z->n; i++) {
		zw_rec *r = &z->r[i];

		b_u32(&z->b, 0x02014b50u);
		b_u16(&z->b, 20);
		b_u16(&z->b, 20);
		b_u16(&z->b, r->flags);
		b_u16(&z->b, r->method);
		b_u32(&z->b, 0);
		b_u32(&z->b, r->crc);
		b_u32(&z->b, r->csize);
		b_u32(&z->b, r->usize);
		b_u16(&z->b, (uint16_t)strlen(r->name));
		b_u16(&z->b, 0); /* extra */
		b_u16(&z->b, 0); /* comment */
		b_u16(&z->b, 0); /* disk */
		b_u16(&z->b, 0); /* internal attributes */
		b_u32(&z->b, 0); /* external attributes */
		b_u32(&z->b, r->lho);
		b_str(&z->b, r->name);
	}
	z->cd_size = (uint32_t)z->b.len - z->cd_off;
	b_u32(&z->b, 0x06054b50u);
	b_u16(&z->b, 0);
	b_u16(&z->b, 0);
	b_u16(&z->b, (uint16_t)z->n);
	b_u16(&z->b, (uint16_t)z->n);
	b_u32(&z->b, z->cd_size);
	b_u32(&z->b, z->cd_off);
	b_u16(&z->b, 0);
}

static const char class_m[] =
	"class M(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = [\"t\", ]\n"
	"  t : Tensor\n"
	"  training : bool\n"
	"  def forward(self: __torch__.M,\n"
	"    x: Tensor) -> Tensor:\n"
	"    return x\n";

static const char class_m_x[] =
	"class M(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = [\"t\", ]\n"
	"  t : Tensor\n"
	"  x : Any\n"
	"  training : bool\n";

static const char class_m_nox[] =
	"class M(Module):\n"
	"  __parameters__ = []\n"
	"  __buffers__ = []\n"
	"  x : Any\n"
	"  training : bool\n";

static const uint8_t constants_pkl[] = { 0x80, 2, ')', '.' };

/* float32 data/0 of 4 elements */
static const float data0[4] = { 1.0f, 2.0f, 3.0f, 4.0f };

static const tdesc good_t = {
	"FloatStorage", "0", 4, 0, 2, { 2, 2 }, { 2, 1 }
};

/* An archive "m/" with data.pkl (given bytes), constants.pkl, version,
 * code/__torch__.py (header) and data/0 (data0); the writer is left open
 * for more records (zw_finish to close). */
static void zw_model(zw *z, const buf *datapkl, const char *header)
{
	memset(z, 0, sizeof *z);
	zw_add(z, "data/0", data0, sizeof data0);
	zw_add(z, "data.pkl", datapkl->p, datapkl->len);
	zw_add(z, "code/__torch__.py", header, strlen(header));
	zw_add(z, "constants.pkl", constants_pkl, sizeof constants_pkl);
	zw_add_str(z, "version", "3\n");
}

/* build, run, free: a model whose tensor is `t` (NULL: none) and whose
 * attribute x is `raw` (NULL: none) */
static int run_model(const char *name, const tdesc *t, const buf *raw,
	const tsl_options *opts, enum expect ex, int want)
{
	buf d = { 0 };
	zw z;
	int rc;

	snprintf(case_name, sizeof case_name, "%s", name);
	pk_model(&d, t, raw);
	zw_model(&z, &d, raw ? (t ? class_m_x : class_m_nox) : class_m);
	zw_finish(&z);
	rc = run_case(z.b.p, z.b.len, opts, ex, want);
	b_free(&z.b);
	b_free(&d);
	return rc;
}

/* a data.pkl of raw pickle bytes (not a module) */
static int run_pickle(const char *name, const buf *pkl,
	const tsl_options *opts, enum expect ex, int want)
{
	zw z;
	int rc;

	snprintf(case_name, sizeof case_name, "%s", name);
	zw_model(&z, pkl, class_m);
	zw_finish(&z);
	rc = run_case(z.b.p, z.b.len, opts, ex, want);
	b_free(&z.b);
	return rc;
}

/* a torch.save checkpoint (data.pkl, Python dialect, no constants.pkl),
 * loaded with TSL_OPEN_CHECKPOINTS where the library has it */
static int run_checkpoint(const char *name, const buf *pkl, enum expect ex)
{
	tsl_options o;
	zw z;
	int rc;

	tsl_options_init(&o, TSL_OPTIONS_VERSION);
#ifdef TSL_OPEN_CHECKPOINTS
	o.flags |= TSL_OPEN_CHECKPOINTS;
#endif
	snprintf(case_name, sizeof case_name, "%s", name);
	memset(&z, 0, sizeof z);
	zw_add(&z, "data/0", data0, sizeof data0);
	zw_add(&z, "data.pkl", pkl->p, pkl->len);
	zw_add_str(&z, "version", "3\n");
	zw_finish(&z);
	rc = run_case(z.b.p, z.b.len, &o, ex, 0);
	b_free(&z.b);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* targeted: the builders themselves                                         */
/* ------------------------------------------------------------------------ */

static void test_baseline(void **state)
{
	buf d = { 0 };
	zw z;
	tsl_archive *ar = NULL;
	tsl_model *m = NULL;
	tsl_error err;
	const tsl_tensor *t;
	const void *p;
	size_t n;
	uint8_t zeros[1000] = { 0 };
	buf df = { 0 };
	uint8_t *inflated;

	(void)state;
	/* the writer's archive loads, with the expected tensor */
	pk_model(&d, &good_t, NULL);
	zw_model(&z, &d, class_m);
	zw_finish(&z);
	snprintf(case_name, sizeof case_name, "baseline");
	run_case(z.b.p, z.b.len, NULL, EXPECT_OK, 0);
	assert_int_equal(tsl_archive_open_buffer(&ar, z.b.p, z.b.len, NULL,
		&err), TSL_OK);
	if (tsl_model_load(&m, ar, NULL, &err) != TSL_OK)
		fail_msg("baseline: %s", err.message);
	t = tsl_module_find_tensor(tsl_model_root(m), "t");
	assert_non_null(t);
	assert_int_equal(tsl_tensor_ndim(t), 2);
	assert_int_equal(tsl_tensor_numel(t), 4);
	assert_int_equal(tsl_tensor_data(t, &p, &err), TSL_OK);
	assert_memory_equal(p, data0, sizeof data0);
	tsl_model_free(m);
	tsl_archive_free(ar);
	b_free(&z.b);

	/* the deflate writers decode as intended: stored blocks and zeros */
	zw_model(&z, &d, class_m);
	df_zeros(&df, sizeof zeros);
	zw_add_raw(&z, "extra/zeros", 8, df.p, df.len, sizeof zeros,
		crc32_of(zeros, sizeof zeros));
	zw_add_deflated(&z, "extra/pickle", d.p, d.len, UINT32_MAX);
	zw_finish(&z);
	snprintf(case_name, sizeof case_name, "baseline deflated extras");
	run_case(z.b.p, z.b.len, NULL, EXPECT_OK, 0);
	assert_int_equal(tsl_archive_open_buffer(&ar, z.b.p, z.b.len, NULL,
		&err), TSL_OK);
	assert_int_equal(tsl_archive_extra_read(ar, "zeros", &p, &n, &err),
		TSL_OK);
	assert_int_equal(n, sizeof zeros);
	inflated = (uint8_t *)p;
	assert_memory_equal(inflated, zeros, sizeof zeros);
	assert_int_equal(tsl_archive_extra_read(ar, "pickle", &p, &n, &err),
		TSL_OK);
	assert_int_equal(n, d.len);
	assert_memory_equal(p, d.p, d.len);
	tsl_archive_free(ar);
	b_free(&z.b);
	b_free(&df);
	b_free(&d);
#ifdef TSL_OPEN_CHECKPOINTS
	/* the checkpoint builder loads: {"a": [1, 2]} in protocol 2 */
	{
		static const char ck[] = "\x80\x02}X\x01\x00\x00\x00" "a](K\x01"
			"K\x02" "es.";

		b_bytes(&d, ck, sizeof ck - 1);
	}
	run_checkpoint("baseline checkpoint", &d, EXPECT_OK);
	b_free(&d);
#endif
}

/* ------------------------------------------------------------------------ */
/* targeted: zip structure                                                   */
/* ------------------------------------------------------------------------ */

static void model_zip(zw *z)
{
	buf d = { 0 };

	pk_model(&d, &good_t, NULL);
	zw_model(z, &d, class_m);
	b_free(&d);
}

static void run_zip(const char *name, zw *z, const tsl_options *opts,
	enum expect ex, int want)
{
	snprintf(case_name, sizeof case_name, "%s", name);
	run_case(z->b.p, z->b.len, opts, ex, want);
	b_free(&z->b);
}

static void test_zip_structure(void **state)
{
	unsigned long before = n_cases;
	tsl_options o;
	zw z;

	(void)state;
	/* two records with the same name */
	model_zip(&z);
	zw_add_str(&z, "version", "3\n");
	zw_finish(&z);
	run_zip("two records named version", &z, NULL, EXPECT_FAIL, 0);
	model_zip(&z);
	zw_add(&z, "data/0", data0, sizeof data0);
	zw_finish(&z);
	run_zip("two records named data/0", &z, NULL, EXPECT_FAIL, 0);

	/* a record overlapping the central directory: its data runs into it */
	model_zip(&z);
	z.r[z.n - 1].csize += 40;
	z.r[z.n - 1].usize += 40;
	zw_finish(&z);
	run_zip("record overlapping the central directory", &z, NULL,
		EXPECT_FAIL, 0);
	/* ... a local header inside the central directory */
	model_zip(&z);
	zw_finish(&z);
	{
		/* patch the first CD entry's local header offset to cd_off */
		uint8_t *cd = z.b.p + z.cd_off;

		cd[42] = (uint8_t)z.cd_off;
		cd[43] = (uint8_t)(z.cd_off >> 8);
		cd[44] = (uint8_t)(z.cd_off >> 16);
		cd[45] = (uint8_t)(z.cd_off >> 24);
	}
	run_zip("local header offset in the central directory", &z, NULL,
		EXPECT_FAIL, 0);
	/* ... a record whose data starts past the end */
	model_zip(&z);
	z.r[0].lho = 0x7fff0000u;
	zw_finish(&z);
	run_zip("local header past the end", &z, NULL, EXPECT_FAIL, 0);
	/* overlapping records */
	model_zip(&z);
	z.r[1].lho = z.r[0].lho + 10;
	zw_finish(&z);
	run_zip("records overlapping each other", &z, NULL, EXPECT_FAIL, 0);
	/* the same local header for two records */
	model_zip(&z);
	z.r[1].lho = z.r[0].lho;
	zw_finish(&z);
	run_zip("two records share one local header", &z, NULL,
		EXPECT_FAIL, 0);

	/* EOCD lies */
	{
		static const struct { const char *what; int off; uint32_t v;
			int w; } eocd[] = {
			/* (the count on this disk alone is not used) */
			{ "EOCD total count too big", 10, 200, 2 },
			{ "EOCD record count 0", 10, 0, 2 },
			{ "EOCD cd size too big", 12, 0x7fffffffu, 4 },
			{ "EOCD cd size too small", 12, 10, 4 },
			{ "EOCD cd offset past the end", 16, 0x7fffffffu, 4 },
			{ "EOCD cd offset 1", 16, 1, 4 },
			{ "EOCD comment length past the end", 20, 1000, 2 },
			{ "EOCD zip64 markers without zip64", 16, 0xffffffffu,
				4 },
			{ "EOCD on disk 1", 4, 1, 2 },
		};

		for (size_t i = 0; i < sizeof eocd / sizeof eocd[0]; i++) {
			uint8_t *e;

			model_zip(&z);
			zw_finish(&z);
			e = z.b.p + z.b.len - 22 + eocd[i].off;
			for (int k = 0; k < eocd[i].w; k++)
				e[k] = (uint8_t)(eocd[i].v >> (8 * k));
			run_zip(eocd[i].what, &z, NULL, EXPECT_FAIL, 0);
		}
		/* miniz (torch) rejects a count on this disk that differs
		 * from the total ("multidisk"); tsload reads the total */
		model_zip(&z);
		zw_finish(&z);
		z.b.p[z.b.len - 22 + 8] = 200;
		run_zip("EOCD count on this disk differs", &z, NULL,
			EXPECT_ANY, 0);
	}
	/* central directory entry lies */
	{
		static const struct { const char *what; int off; uint32_t v;
			int w; } cde[] = {
			{ "CD signature", 0, 0x12345678u, 4 },
			{ "CD name length past the directory", 28, 0xffff, 2 },
			{ "CD extra length past the directory", 30, 0xffff, 2 },
			{ "CD comment length past the directory", 32, 0xffff,
				2 },
			{ "CD csize huge", 20, 0x7fffffffu, 4 },
			{ "CD usize 4 GiB", 24, 0xfffffffeu, 4 },
			{ "CD zip64 sizes without extra", 20, 0xffffffffu, 4 },
			{ "CD method 99", 10, 99, 2 },
			{ "CD method bzip2", 10, 12, 2 },
			{ "CD encrypted", 8, 1, 2 },
		};

		for (size_t i = 0; i < sizeof cde / sizeof cde[0]; i++) {
			for (int which = 0; which < 2; which++) {
				/* which: the data/0 entry or the data.pkl one */
				uint8_t *c;
				char nm[160];

				model_zip(&z);
				zw_finish(&z);
				c = z.b.p + z.cd_off;
				if (which) /* second entry */
					c += 46 + strlen(z.r[0].name);
				c += cde[i].off;
				for (int k = 0; k < cde[i].w; k++)
					c[k] = (uint8_t)(cde[i].v >> (8 * k));
				snprintf(nm, sizeof nm, "%s (%s)", cde[i].what,
					which ? "data.pkl" : "data/0");
				run_zip(nm, &z, NULL, EXPECT_FAIL, 0);
			}
		}
	}
	/* local header lies: signature, name length past the end */
	for (int k = 0; k < 3; k++) {
		static const char *const what[] = { "local signature",
			"local name length huge", "local extra length huge" };
		uint8_t *lh;

		model_zip(&z);
		zw_finish(&z);
		lh = z.b.p + z.r[1].lho; /* data.pkl */
		if (k == 0)
			lh[0] = 'X';
		else
			lh[k == 1 ? 26 : 28] = lh[k == 1 ? 27 : 29] = 0xff;
		run_zip(what[k], &z, NULL, EXPECT_FAIL, 0);
	}
	/* no data.pkl, no version, version out of range */
	{
		buf d = { 0 };

		pk_model(&d, &good_t, NULL);
		memset(&z, 0, sizeof z);
		zw_add(&z, "data/0", data0, sizeof data0);
		zw_add(&z, "constants.pkl", constants_pkl,
			sizeof constants_pkl);
		zw_add_str(&z, "version", "3\n");
		zw_finish(&z);
		run_zip("no data.pkl", &z, NULL, EXPECT_FAIL, 0);
		for (int k = 0; k < 4; k++) {
			static const char *const v[] = { "999999\n", "abc\n",
				"", "18446744073709551617\n" };
			char nm[64];

			memset(&z, 0, sizeof z);
			zw_add(&z, "data/0", data0, sizeof data0);
			zw_add(&z, "data.pkl", d.p, d.len);
			zw_add_str(&z, "code/__torch__.py", class_m);
			zw_add(&z, "constants.pkl", constants_pkl,
				sizeof constants_pkl);
			zw_add_str(&z, "version", v[k]);
			zw_finish(&z);
			snprintf(nm, sizeof nm, "version '%s'", v[k]);
			run_zip(nm, &z, NULL, EXPECT_FAIL, 0);
		}
		b_free(&d);
	}
	/* limits on the index */
	tsl_options_init(&o, TSL_OPTIONS_VERSION);
	o.max_records = 3;
	model_zip(&z);
	zw_finish(&z);
	run_zip("max_records 3", &z, &o, EXPECT_FAIL, TSL_ELIMIT);
	/* an empty file, an EOCD alone, garbage */
	{
		uint8_t eocd[22] = { 'P', 'K', 5, 6 };
		uint8_t junk[4096];
		uint64_t s = 42;

		snprintf(case_name, sizeof case_name, "empty file");
		run_case(eocd, 0, NULL, EXPECT_FAIL, 0);
		snprintf(case_name, sizeof case_name, "EOCD alone");
		run_case(eocd, sizeof eocd, NULL, EXPECT_FAIL, 0);
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (uint8_t)rng_next(&s);
		snprintf(case_name, sizeof case_name, "random bytes");
		run_case(junk, sizeof junk, NULL, EXPECT_FAIL, 0);
		memcpy(junk + sizeof junk - 22, eocd, sizeof eocd);
		snprintf(case_name, sizeof case_name, "random bytes + EOCD");
		run_case(junk, sizeof junk, NULL, EXPECT_FAIL, 0);
	}
	printf("zip structure: %lu cases\n", n_cases - before);
}

/* ------------------------------------------------------------------------ */
/* targeted: zip bombs                                                       */
/* ------------------------------------------------------------------------ */

static void test_zip_bombs(void **state)
{
	unsigned long before = n_cases;
	buf d = { 0 }, bomb = { 0 };
	tsl_options o;
	zw z;
	const uint32_t big = 16u << 20; /* 16 MiB of zeros, ~100 KiB */

	(void)state;
	pk_model(&d, &good_t, NULL);
	df_zeros(&bomb, big);

	/* data.pkl deflated, declared size larger / smaller than the real */
	for (int k = 0; k < 4; k++) {
		static const int64_t delta[] = { 100, 1, -1, -100 };
		char nm[96];

		memset(&z, 0, sizeof z);
		zw_add(&z, "data/0", data0, sizeof data0);
		zw_add_deflated(&z, "data.pkl", d.p, d.len,
			(uint32_t)((int64_t)d.len + delta[k]));
		zw_add_str(&z, "code/__torch__.py", class_m);
		zw_add(&z, "constants.pkl", constants_pkl,
			sizeof constants_pkl);
		zw_add_str(&z, "version", "3\n");
		zw_finish(&z);
		snprintf(nm, sizeof nm, "deflated data.pkl declared %+lld bytes",
			(long long)delta[k]);
		run_zip(nm, &z, NULL, EXPECT_FAIL, 0);
	}
	/* a real bomb as data.pkl: declared small, declared right but over
	 * max_record_bytes, declared 4 GiB */
	{
		static const struct { const char *what; uint32_t usize;
			uint64_t limit; int want; } c[] = {
			{ "bomb data.pkl declared 1000 bytes", 1000, 0, 0 },
			{ "bomb data.pkl over max_record_bytes", 16u << 20,
				1u << 20, TSL_ELIMIT },
			{ "bomb data.pkl declared 4 GiB", 0xfffffff0u, 0,
				TSL_ELIMIT },
			{ "bomb data.pkl declared right (not a pickle)",
				16u << 20, 0, 0 },
		};

		for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
			memset(&z, 0, sizeof z);
			zw_add(&z, "data/0", data0, sizeof data0);
			zw_add_raw(&z, "data.pkl", 8, bomb.p, bomb.len,
				c[i].usize, 0);
			zw_add_str(&z, "code/__torch__.py", class_m);
			zw_add(&z, "constants.pkl", constants_pkl,
				sizeof constants_pkl);
			zw_add_str(&z, "version", "3\n");
			zw_finish(&z);
			tsl_options_init(&o, TSL_OPTIONS_VERSION);
			o.max_record_bytes = c[i].limit;
			run_zip(c[i].what, &z, &o, EXPECT_FAIL, c[i].want);
		}
	}
	/* bombs as extra files (the model loads; reading them fails) */
	{
		static const struct { const char *what; uint32_t usize;
			uint64_t rec, total; int want; } c[] = {
			{ "bomb extra declared 1000 bytes", 1000, 0, 0, 0 },
			{ "bomb extra declared 1 byte more", (16u << 20) + 1,
				0, 0, 0 },
			{ "bomb extra declared 1 byte less", (16u << 20) - 1,
				0, 0, 0 },
			{ "bomb extra over max_record_bytes", 16u << 20,
				1u << 20, 0, TSL_ELIMIT },
			{ "bomb extra declared 4 GiB, ratio 40000",
				0xfffffff0u, 0, 0, TSL_ELIMIT },
		};

		for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
			model_zip(&z);
			zw_add_raw(&z, "extra/bomb", 8, bomb.p, bomb.len,
				c[i].usize, 0);
			zw_finish(&z);
			tsl_options_init(&o, TSL_OPTIONS_VERSION);
			o.max_record_bytes = c[i].rec;
			o.max_total_bytes = c[i].total;
			run_zip(c[i].what, &z, &o, EXPECT_FAIL, c[i].want);
		}
	}
	/* huge ratio without data: 10 bytes declared as 4 GiB */
	model_zip(&z);
	zw_add_raw(&z, "extra/tiny", 8, "\x03\x00\x00\x00\x00\x00\x00\x00\x00"
		"\x00", 10, 0xfffffff0u, 0);
	zw_finish(&z);
	run_zip("10 bytes declared 4 GiB", &z, NULL, EXPECT_FAIL, TSL_ELIMIT);
	/* several records, each under max_record_bytes, over max_total_bytes */
	model_zip(&z);
	for (int k = 0; k < 4; k++) {
		char nm[32];

		snprintf(nm, sizeof nm, "extra/part%d", k);
		zw_add_raw(&z, nm, 8, bomb.p, bomb.len, big, 0);
	}
	zw_finish(&z);
	tsl_options_init(&o, TSL_OPTIONS_VERSION);
	o.max_total_bytes = 40u << 20;
	run_zip("4 x 16 MiB over max_total_bytes 40 MiB", &z, &o, EXPECT_FAIL,
		TSL_ELIMIT);
	/* truncated deflate streams, corrupt deflate */
	for (int k = 0; k < 3; k++) {
		static const char *const what[] = { "truncated deflate",
			"deflate with reserved block type",
			"deflate stored block with bad NLEN" };
		uint8_t bad[64];
		size_t n;

		memset(bad, 0, sizeof bad);
		if (k == 0) {
			n = bomb.len / 2 < sizeof bad ? bomb.len / 2 :
				sizeof bad;
			memcpy(bad, bomb.p, n);
		} else if (k == 1) {
			bad[0] = 0x07; /* BFINAL, BTYPE 11 */
			n = 16;
		} else {
			bad[0] = 1;
			bad[1] = 10;
			bad[3] = 0x12; /* NLEN != ~LEN */
			n = 20;
		}
		model_zip(&z);
		zw_add_raw(&z, "extra/bad", 8, bad, n, 1000, 0);
		zw_finish(&z);
		run_zip(what[k], &z, NULL, EXPECT_FAIL, 0);
	}
	/* a wrong CRC with TSL_OPEN_VERIFY_CRC */
	model_zip(&z);
	z.r[1].crc ^= 1;
	zw_finish(&z);
	tsl_options_init(&o, TSL_OPTIONS_VERSION);
	o.flags = TSL_OPEN_VERIFY_CRC;
	run_zip("data.pkl with a wrong CRC, verified", &z, &o, EXPECT_FAIL, 0);
	b_free(&bomb);
	b_free(&d);
	printf("zip bombs: %lu cases\n", n_cases - before);
}

/* ------------------------------------------------------------------------ */
/* targeted: tensors                                                         */
/* ------------------------------------------------------------------------ */

/* A storage key longer than the loader's 256-byte name buffer: the record
 * name is made in memory of its own (and freed), found when the archive
 * has it, and kept by the stand-in when it does not (0 elements). */
static void test_long_storage_key(void **state)
{
	char key[301], want[320];

	(void)state;
	memset(key, 'k', 300);
	key[300] = '\0';
	snprintf(want, sizeof want, "data/%s", key);
	for (int present = 0; present < 2; present++) {
		tdesc t = good_t;
		buf d = { 0 };
		zw z;
		tsl_archive *ar;
		tsl_model *m;
		tsl_error err;

		t.key = key;
		if (!present) {
			t.numel = 0;
			t.shape[0] = t.shape[1] = 0;
		}
		pk_model(&d, &t, NULL);
		zw_model(&z, &d, class_m);
		if (present)
			zw_add(&z, want, data0, sizeof data0);
		zw_finish(&z);
		assert_int_equal(tsl_archive_open_buffer(&ar, z.b.p, z.b.len,
			NULL, &err), TSL_OK);
		if (tsl_model_load(&m, ar, NULL, &err) != TSL_OK)
			fail_msg("present %d: %s", present, err.message);
		assert_int_equal(tsl_model_storage_count(m), 1);
		assert_string_equal(tsl_storage_record(tsl_model_storage(m, 0)),
			want);
		tsl_model_free(m);
		tsl_archive_free(ar);
		b_free(&z.b);
		b_free(&d);
	}
}

static void test_tensors(void **state)
{
	unsigned long before = n_cases;
	tsl_options o;
	tdesc t;

	(void)state;
#define T_CASE(desc, ...) do { \
	t = good_t; \
	__VA_ARGS__; \
	run_model(desc, &t, NULL, NULL, EXPECT_FAIL, 0); \
} while (0)
	T_CASE("negative shape", t.shape[0] = -1);
	T_CASE("negative shape, both", t.shape[0] = -2; t.shape[1] = -2);
	T_CASE("huge shape 2^62", t.shape[0] = INT64_C(1) << 62);
	T_CASE("shape INT64_MAX", t.shape[1] = INT64_MAX);
	T_CASE("shape INT64_MIN", t.shape[1] = INT64_MIN);
	T_CASE("shape product overflow", t.ndim = 4;
		t.shape[0] = t.shape[1] = t.shape[2] = t.shape[3] =
		INT64_C(1) << 20; t.stride[2] = t.stride[3] = 1);
	T_CASE("negative stride", t.stride[0] = -2);
	T_CASE("negative stride, last", t.stride[1] = -1);
	T_CASE("huge stride 2^62", t.stride[0] = INT64_C(1) << 62);
	T_CASE("stride INT64_MAX", t.stride[0] = INT64_MAX);
	T_CASE("stride x size overflow", t.shape[0] = 3;
		t.stride[0] = INT64_MAX / 2);
	T_CASE("storage smaller than the view", t.shape[0] = 3);
	T_CASE("storage smaller than the view (stride)", t.stride[0] = 3);
	T_CASE("view past the storage by offset", t.offset = 1);
	T_CASE("offset past the storage", t.offset = 100; t.ndim = 0);
	T_CASE("negative offset", t.offset = -1);
	T_CASE("offset INT64_MAX", t.offset = INT64_MAX);
	T_CASE("view past the record, numel claiming it fits", t.numel = 5;
		t.ndim = 1; t.shape[0] = 5; t.stride[0] = 1);
	T_CASE("numel x itemsize overflow (float)",
		t.numel = INT64_C(1) << 62);
	T_CASE("numel x itemsize overflow (double)", t.storage =
		"DoubleStorage"; t.numel = (INT64_C(1) << 61) + 1);
	T_CASE("numel x itemsize overflow (complex128)", t.storage =
		"ComplexDoubleStorage"; t.numel = INT64_C(1) << 60);
	T_CASE("negative numel", t.numel = -1);
	T_CASE("rank 70 over max_rank 64", t.ndim = 70;
		for (int i = 0; i < 70; i++) { t.shape[i] = 1;
		t.stride[i] = 1; });
	T_CASE("unknown storage type", t.storage = "FooStorage");
	T_CASE("storage type not a storage", t.storage = "Tensor");
	T_CASE("storage type os", t.storage = "system");
	T_CASE("persistent id naming a missing record", t.key = "9");
	T_CASE("persistent id naming the pickle", t.key = "../data.pkl");
	T_CASE("persistent id naming a folder", t.key = "");
	T_CASE("persistent id key with a NUL-free slash", t.key = "0/0");
	/* shapes of different length: build by hand */
	{
		buf raw = { 0 }, d = { 0 };
		zw z;

		/* _rebuild_tensor_v2 with a stride tuple of other length */
		pk_op(&d, 0x80);
		pk_op(&d, 2);
		pk_global(&d, "__torch__", "M");
		pk_op(&d, ')');
		pk_op(&d, 0x81);
		pk_op(&d, '}');
		pk_op(&d, '(');
		pk_str(&d, "training");
		pk_op(&d, 0x88);
		pk_str(&d, "t");
		pk_global(&d, "torch._utils", "_rebuild_tensor_v2");
		pk_op(&d, '(');
		pk_op(&d, '(');
		pk_str(&d, "storage");
		pk_global(&d, "torch", "FloatStorage");
		pk_str(&d, "0");
		pk_str(&d, "cpu");
		pk_int(&d, 4);
		pk_op(&d, 't');
		pk_op(&d, 'Q');
		pk_int(&d, 0);
		pk_op(&d, '(');
		pk_int(&d, 2);
		pk_int(&d, 2);
		pk_op(&d, 't');
		pk_op(&d, '(');
		pk_int(&d, 1);
		pk_op(&d, 't');
		pk_op(&d, 0x89);
		pk_global(&d, "collections", "OrderedDict");
		pk_op(&d, ')');
		pk_op(&d, 'R');
		pk_op(&d, 't');
		pk_op(&d, 'R');
		pk_op(&d, 'u');
		pk_op(&d, 'b');
		pk_op(&d, '.');
		snprintf(case_name, sizeof case_name,
			"shape rank 2, stride rank 1");
		zw_model(&z, &d, class_m);
		zw_finish(&z);
		run_case(z.b.p, z.b.len, NULL, EXPECT_FAIL, 0);
		b_free(&z.b);
		b_free(&d);
		b_free(&raw);
	}
	/* torch sizes the storage numel x itemsize over the record's
	 * bytes; tsload bounds views by the record: a larger numel whose
	 * views fit the record may load */
	t = good_t;
	t.numel = 5;
	run_model("storage numel larger than its record", &t, NULL, NULL,
		EXPECT_ANY, 0);
	t.numel = INT64_C(1) << 40;
	run_model("storage numel 2^40 over a 16-byte record", &t, NULL, NULL,
		EXPECT_ANY, 0);
	/* legal corner cases must keep loading */
	t = good_t;
	t.ndim = 3;
	t.shape[0] = INT64_C(1) << 40;
	t.shape[1] = 2;
	t.shape[2] = 2;
	t.stride[0] = 0;
	t.stride[1] = 2;
	t.stride[2] = 1;
	run_model("zero-stride view of 2^40 rows (expand)", &t, NULL, NULL,
		EXPECT_OK, 0);
	t = good_t;
	t.shape[0] = 0;
	t.stride[0] = INT64_C(1) << 40;
	run_model("empty view with a huge stride", &t, NULL, NULL, EXPECT_ANY,
		0);
	t = good_t;
	t.ndim = 0;
	t.offset = 3;
	run_model("0-dim view of the last element", &t, NULL, NULL, EXPECT_OK,
		0);
	/* limits */
	tsl_options_init(&o, TSL_OPTIONS_VERSION);
	o.max_rank = 1;
	run_model("rank 2 over max_rank 1", &good_t, NULL, &o, EXPECT_FAIL,
		TSL_ELIMIT);
#undef T_CASE
	printf("tensors: %lu cases\n", n_cases - before);
}

/* ------------------------------------------------------------------------ */
/* targeted: the pickle machine                                              */
/* ------------------------------------------------------------------------ */

static void pk_begin(buf *b)
{
	b->len = 0;
	pk_op(b, 0x80);
	pk_op(b, 2);
}

static void test_pickles(void **state)
{
	unsigned long before = n_cases;
	buf b = { 0 }, raw = { 0 };
	tsl_options o;

	(void)state;
	/* the attribute builders load when the attribute is sound */
	raw.len = 0;
	pk_op(&raw, ']');
	pk_op(&raw, '(');
	pk_int(&raw, 1);
	pk_int(&raw, 2);
	pk_op(&raw, 'e');
	run_model("attribute baseline: a list of ints", NULL, &raw, NULL,
		EXPECT_OK, 0);
	run_model("attribute baseline: a list of ints, with a tensor",
		&good_t, &raw, NULL, EXPECT_OK, 0);
	/* unknown GLOBALs */
	{
		static const char *const g[][2] = {
			{ "os", "system" }, { "builtins", "eval" },
			{ "builtins", "exec" }, { "posix", "system" },
			{ "subprocess", "Popen" }, { "torch", "load" },
			{ "torch._utils", "_rebuild_device_tensor_from_numpy" },
			{ "numpy.core.multiarray", "_reconstruct" },
			{ "__builtin__", "getattr" }, { "torch", "" },
			{ "", "" },
		};

		for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
			char nm[128];

			pk_begin(&b);
			pk_global(&b, g[i][0], g[i][1]);
			pk_op(&b, '(');
			pk_str(&b, "echo pwned");
			pk_op(&b, 't');
			pk_op(&b, 'R');
			pk_op(&b, '.');
			snprintf(nm, sizeof nm, "GLOBAL '%s %s'", g[i][0],
				g[i][1]);
			run_pickle(nm, &b, NULL, EXPECT_FAIL, 0);
			/* the same, as an attribute of the module */
			raw.len = 0;
			pk_global(&raw, g[i][0], g[i][1]);
			pk_op(&raw, '(');
			pk_str(&raw, "echo pwned");
			pk_op(&raw, 't');
			pk_op(&raw, 'R');
			snprintf(nm, sizeof nm, "attribute GLOBAL '%s %s'",
				g[i][0], g[i][1]);
			run_model(nm, NULL, &raw, NULL, EXPECT_FAIL, 0);
		}
		pk_begin(&b);
		pk_global(&b, "os", "system");
		pk_op(&b, '.');
		run_pickle("GLOBAL 'os system' alone", &b, NULL, EXPECT_FAIL,
			0);
		/* STACK_GLOBAL and INST are not TorchScript */
		pk_begin(&b);
		pk_str(&b, "os");
		pk_str(&b, "system");
		pk_op(&b, 0x93);
		pk_op(&b, '.');
		run_pickle("STACK_GLOBAL os system", &b, NULL, EXPECT_FAIL, 0);
		pk_begin(&b);
		pk_op(&b, '(');
		pk_str(&b, "ls");
		b_str(&b, "ios\nsystem\n");
		pk_op(&b, '.');
		run_pickle("INST os system", &b, NULL, EXPECT_FAIL, 0);
	}
	/* memo */
	{
		pk_begin(&b);
		pk_get(&b, 0);
		pk_op(&b, '.');
		run_pickle("BINGET 0 of an empty memo", &b, NULL, EXPECT_FAIL,
			0);
		pk_begin(&b);
		pk_op(&b, ']');
		pk_put(&b, 0);
		pk_get(&b, 200);
		pk_op(&b, '.');
		run_pickle("BINGET 200, memo index out of range", &b, NULL,
			EXPECT_FAIL, 0);
		pk_begin(&b);
		pk_op(&b, ']');
		pk_put(&b, 5);
		pk_get(&b, 3);
		pk_op(&b, '.');
		run_pickle("BINGET of an unset slot", &b, NULL, EXPECT_FAIL, 0);
		pk_begin(&b);
		pk_op(&b, ']');
		pk_put(&b, 0);
		b_u8(&b, 'j');
		b_u32(&b, 0xffffffffu);
		pk_op(&b, '.');
		run_pickle("LONG_BINGET 0xffffffff", &b, NULL, EXPECT_FAIL, 0);
		pk_begin(&b);
		pk_op(&b, ']');
		b_u8(&b, 'r');
		b_u32(&b, 0xfffffff0u);
		pk_op(&b, '.');
		run_pickle("LONG_BINPUT 0xfffffff0", &b, NULL, EXPECT_FAIL,
			TSL_ELIMIT);
		pk_begin(&b);
		pk_op(&b, ']');
		b_str(&b, "g99999999999999999999\n");
		pk_op(&b, '.');
		run_pickle("GET with a huge decimal index", &b, NULL,
			EXPECT_FAIL, 0);
		pk_begin(&b);
		pk_op(&b, ']');
		b_str(&b, "p-1\n");
		pk_op(&b, '.');
		run_pickle("PUT -1", &b, NULL, EXPECT_FAIL, 0);
		pk_begin(&b);
		pk_put(&b, 0);
		pk_op(&b, ']');
		pk_op(&b, '.');
		run_pickle("BINPUT on an empty stack", &b, NULL, EXPECT_FAIL,
			0);
		pk_begin(&b);
		pk_op(&b, ']');
		pk_put(&b, 100);
		pk_op(&b, '.');
		tsl_options_init(&o, TSL_OPTIONS_VERSION);
		o.max_memo = 10;
		run_pickle("BINPUT 100 over max_memo 10", &b, &o, EXPECT_FAIL,
			TSL_ELIMIT);
	}
	/* deeply nested lists */
	{
		static const unsigned depth[] = { 1001, 5000, 100000 };

		for (size_t i = 0; i < sizeof depth / sizeof depth[0]; i++) {
			char nm[96];

			pk_begin(&b);
			for (unsigned k = 0; k < depth[i]; k++)
				pk_op(&b, ']');
			for (unsigned k = 1; k < depth[i]; k++)
				pk_op(&b, 'a');
			pk_op(&b, '.');
			snprintf(nm, sizeof nm, "lists nested %u deep",
				depth[i]);
			run_pickle(nm, &b, NULL, EXPECT_FAIL, TSL_ELIMIT);
			pk_begin(&b);
			for (unsigned k = 0; k < depth[i]; k++)
				pk_op(&b, '(');
			for (unsigned k = 0; k < depth[i]; k++)
				pk_op(&b, 'l');
			pk_op(&b, '.');
			snprintf(nm, sizeof nm, "%u open MARKs (LIST)",
				depth[i]);
			run_pickle(nm, &b, NULL, EXPECT_FAIL, TSL_ELIMIT);
			pk_begin(&b);
			for (unsigned k = 0; k < depth[i]; k++)
				pk_op(&b, ')');
			for (unsigned k = 1; k < depth[i]; k++)
				pk_op(&b, 0x86); /* TUPLE2 */
			pk_op(&b, '.');
			snprintf(nm, sizeof nm, "tuples nested %u deep",
				depth[i]);
			run_pickle(nm, &b, NULL, EXPECT_FAIL, 0);
			/* dicts via SETITEM: dict key value */
			raw.len = 0;
			for (unsigned k = 0; k < depth[i]; k++) {
				pk_op(&raw, '}');
				pk_str(&raw, "k");
			}
			pk_op(&raw, 'N');
			for (unsigned k = 0; k < depth[i]; k++)
				pk_op(&raw, 's');
			snprintf(nm, sizeof nm, "attribute: dicts nested %u "
				"deep", depth[i]);
			run_model(nm, NULL, &raw, NULL, EXPECT_FAIL, 0);
		}
		/* under the default limit: allowed, and walked safely */
		pk_begin(&b);
		for (unsigned k = 0; k < 900; k++)
			pk_op(&b, ']');
		for (unsigned k = 1; k < 900; k++)
			pk_op(&b, 'a');
		pk_op(&b, '.');
		run_pickle("lists nested 900 deep as data.pkl", &b, NULL,
			EXPECT_FAIL, 0); /* not a module */
		raw.len = 0;
		for (unsigned k = 0; k < 900; k++)
			pk_op(&raw, ']');
		for (unsigned k = 1; k < 900; k++)
			pk_op(&raw, 'a');
		run_model("attribute: lists nested 900 deep", NULL, &raw, NULL,
			EXPECT_ANY, 0);
		tsl_options_init(&o, TSL_OPTIONS_VERSION);
		o.max_depth = 10;
		raw.len = 0;
		for (unsigned k = 0; k < 20; k++)
			pk_op(&raw, ']');
		for (unsigned k = 1; k < 20; k++)
			pk_op(&raw, 'a');
		run_model("attribute: lists 20 deep over max_depth 10", NULL,
			&raw, &o, EXPECT_FAIL, TSL_ELIMIT);
	}
	/* recursive structures */
	{
		pk_begin(&b);
		pk_op(&b, ']');
		pk_put(&b, 0);
		pk_get(&b, 0);
		pk_op(&b, 'a');
		pk_op(&b, '.');
		run_pickle("a list appended to itself", &b, NULL, EXPECT_FAIL,
			0);
		raw.len = 0;
		pk_op(&raw, ']');
		pk_put(&raw, 60);
		pk_get(&raw, 60);
		pk_op(&raw, 'a');
		run_model("attribute: a list appended to itself", NULL, &raw,
			NULL, EXPECT_FAIL, 0);
		raw.len = 0;
		pk_op(&raw, '}');
		pk_put(&raw, 60);
		pk_str(&raw, "self");
		pk_get(&raw, 60);
		pk_op(&raw, 's');
		run_model("attribute: a dict holding itself", NULL, &raw, NULL,
			EXPECT_FAIL, 0);
		/* a = [], b = []; a.append(b); b.append(a) */
		raw.len = 0;
		pk_op(&raw, ']');
		pk_put(&raw, 60);
		pk_op(&raw, ']');
		pk_put(&raw, 61);
		pk_op(&raw, 'a');
		pk_get(&raw, 61);
		pk_get(&raw, 60);
		pk_op(&raw, 'a');
		pk_op(&raw, 0x86);
		run_model("attribute: two lists holding each other", NULL,
			&raw, NULL, EXPECT_FAIL, 0);
		/* the module's state holding the module itself */
		pk_begin(&b);
		pk_global(&b, "__torch__", "M");
		pk_op(&b, ')');
		pk_op(&b, 0x81);
		pk_put(&b, 0);
		pk_op(&b, '}');
		pk_op(&b, '(');
		pk_str(&b, "training");
		pk_op(&b, 0x88);
		pk_str(&b, "x");
		pk_get(&b, 0);
		pk_op(&b, 'u');
		pk_op(&b, 'b');
		pk_op(&b, '.');
		snprintf(case_name, sizeof case_name, "a module holding itself");
		{
			zw z;

			zw_model(&z, &b, class_m_nox);
			zw_finish(&z);
			run_case(z.b.p, z.b.len, NULL, EXPECT_FAIL, 0);
			b_free(&z.b);
		}
		/* BUILD twice, BUILD after use */
		pk_begin(&b);
		pk_global(&b, "__torch__", "M");
		pk_op(&b, ')');
		pk_op(&b, 0x81);
		pk_op(&b, '}');
		pk_op(&b, 'b');
		pk_op(&b, '}');
		pk_op(&b, 'b');
		pk_op(&b, '.');
		run_pickle("BUILD twice", &b, NULL, EXPECT_ANY, 0);
		/* a list used twice (a DAG, not a cycle) is fine */
		raw.len = 0;
		pk_op(&raw, ']');
		pk_put(&raw, 60);
		pk_get(&raw, 60);
		pk_op(&raw, 0x86);
		run_model("attribute: a shared list (DAG)", NULL, &raw, NULL,
			EXPECT_ANY, 0);
		/* a trillion-path DAG: t = (t, t) 40 times, through the memo */
		raw.len = 0;
		pk_op(&raw, ']');
		for (int k = 0; k < 40; k++) {
			pk_put(&raw, (uint8_t)(100 + k));
			pk_get(&raw, (uint8_t)(100 + k));
			pk_op(&raw, 0x86);
		}
		run_model("attribute: a DAG of 2^40 paths", NULL, &raw, NULL,
			EXPECT_ANY, 0);
	}
	/* structure errors */
	{
#define S(x) x, sizeof(x) - 1
		static const struct { const char *what; const char *bytes;
			size_t n; } c[] = {
			{ "empty pickle", S("") },
			{ "no STOP", S("\x80\x02]") },
			{ "STOP on an empty stack", S("\x80\x02.") },
			{ "two values at STOP", S("\x80\x02]].") },
			{ "open MARK at STOP", S("\x80\x02(].") },
			{ "APPEND to an int", S("\x80\x02K\x01K\x02" "a.") },
			{ "SETITEM on a list", S("\x80\x02]K\x01K\x02s.") },
			{ "TUPLE without MARK", S("\x80\x02K\x01t.") },
			{ "POP_MARK without MARK", S("\x80\x02]1.") },
			{ "POP on an empty stack", S("\x80\x02" "0].") },
			{ "REDUCE of an int", S("\x80\x02K\x01)R.") },
			{ "NEWOBJ of a list", S("\x80\x02])\x81.") },
			{ "BUILD of a list", S("\x80\x02]}b.") },
			{ "BINPERSID of an int", S("\x80\x02K\x01Q.") },
			{ "BINPERSID of an empty tuple", S("\x80\x02)Q.") },
			{ "unknown opcode 0xff", S("\x80\x02\xff.") },
			{ "protocol 99", S("\x80\x63].") },
			{ "BINUNICODE length past the end",
				S("\x80\x02X\xff\xff\xff\x7f" "abc.") },
			{ "BINUNICODE invalid UTF-8",
				S("\x80\x02X\x02\x00\x00\x00\xff\xfe.") },
			{ "SHORT_BINBYTES past the end",
				S("\x80\x02" "C\xff" "ab.") },
			{ "BINBYTES8 huge",
				S("\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.") },
			{ "LONG4 huge",
				S("\x80\x02\x8b\xff\xff\xff\x7f.") },
			{ "LONG1 of 9 bytes", S("\x80\x02\x8a\x09"
				"123456789.") },
			{ "INT not a number", S("\x80\x02Ixyz\n.") },
			{ "INT without newline", S("\x80\x02I123") },
			{ "FLOAT garbage", S("\x80\x02" "F1e99999x\n.") },
			{ "FRAME longer than the data",
				S("\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00].") },
			{ "GLOBAL without newline", S("\x80\x02" "ctorch") },
			{ "restore_type_tag of an int",
				S("\x80\x02" "ctorch.jit._pickle\nrestore_type_tag\n"
				"K\x01X\x03\x00\x00\x00" "int\x86R.") },
			{ "build_intlist of a string",
				S("\x80\x02" "ctorch.jit._pickle\nbuild_intlist\n"
				"X\x01\x00\x00\x00" "a\x85R.") },
			{ "device of an int", S("\x80\x02" "ctorch\ndevice\n"
				"K\x01\x85R.") },
			{ "device 'cuda:99999999999999999999'",
				S("\x80\x02" "ctorch\ndevice\nX\x19\x00\x00\x00"
				"cuda:99999999999999999999\x85R.") },
			{ "_rebuild_tensor_v2 with no arguments",
				S("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n"
				")R.") },
			{ "_rebuild_qtensor with junk",
				S("\x80\x02" "ctorch._utils\n_rebuild_qtensor\n"
				"(K\x01K\x02tR.") },
			{ "_rebuild_sparse_tensor with junk",
				S("\x80\x02" "ctorch._utils\n_rebuild_sparse_tensor\n"
				"(NNNtR.") },
			{ "build_tensor_from_id with no table",
				S("\x80\x02" "ctorch.jit._pickle\nbuild_tensor_from_id\n"
				"K\x05\x85R.") },
		};

		for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
			buf p = { 0 };
			char nm[160];

			b_bytes(&p, c[i].bytes, c[i].n);
			run_pickle(c[i].what, &p, NULL, EXPECT_FAIL, 0);
			/* any value may be a checkpoint's root: some load */
			snprintf(nm, sizeof nm, "%s (checkpoint)", c[i].what);
			run_checkpoint(nm, &p, EXPECT_ANY);
			b_free(&p);
		}
#undef S
	}
	/* container limit */
	raw.len = 0;
	pk_op(&raw, ']');
	pk_op(&raw, '(');
	for (int k = 0; k < 100; k++)
		pk_op(&raw, 'N');
	pk_op(&raw, 'e');
	tsl_options_init(&o, TSL_OPTIONS_VERSION);
	o.max_container = 10;
	run_model("a list of 100 over max_container 10", NULL, &raw, &o,
		EXPECT_FAIL, TSL_ELIMIT);
	/* metadata bytes limit over a real fixture */
	{
		size_t size;
		uint8_t *f = load_fixture("good-resnet-script.pt", &size);

		tsl_options_init(&o, TSL_OPTIONS_VERSION);
		o.max_meta_bytes = 64 * 1024;
		snprintf(case_name, sizeof case_name,
			"resnet over max_meta_bytes 64 KiB");
		run_case(f, size, &o, EXPECT_FAIL, TSL_ELIMIT);
		o.max_meta_bytes = 0;
		o.max_depth = 3;
		snprintf(case_name, sizeof case_name,
			"resnet over max_depth 3");
		run_case(f, size, &o, EXPECT_FAIL, TSL_ELIMIT);
		o.max_depth = 0;
		o.max_records = 10;
		snprintf(case_name, sizeof case_name,
			"resnet over max_records 10");
		run_case(f, size, &o, EXPECT_FAIL, TSL_ELIMIT);
		free(f);
	}
	/* a string of 2^20 'x' used 2^20 times: fine (shared) */
	b_free(&b);
	b_free(&raw);
	printf("pickles: %lu cases\n", n_cases - before);
}

/* ------------------------------------------------------------------------ */

static int print_count(void **state)
{
	(void)state;
	printf("test_malformed: %lu cases (%lu failed as they should or may, "
		"%lu loaded)\n", n_cases, n_failed_ok, n_loaded);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baseline),
		cmocka_unit_test(test_zip_structure),
		cmocka_unit_test(test_zip_bombs),
		cmocka_unit_test(test_tensors),
		cmocka_unit_test(test_long_storage_key),
		cmocka_unit_test(test_pickles),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_byte_flips),
	};

	verbose = getenv("TSL_MALFORMED_VERBOSE") &&
		atoi(getenv("TSL_MALFORMED_VERBOSE")) > 0;
	save_path = getenv("TSL_MALFORMED_SAVE");
	signal(SIGALRM, on_alarm);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, print_count);
}
