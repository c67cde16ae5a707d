/* tsconvert - write the tensors of a TorchScript archive or torch.save
 * checkpoint to a safetensors file (see doc/tsconvert.1).
 *
 * The output is written to a temporary file next to OUTPUT and renamed
 * over it at the end: an error or a signal leaves no partial output.
 * Contiguous tensors written as stored go from the archive's mapping
 * straight to write(); converted or non-contiguous tensors are gathered
 * in pieces of 4 MiB. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsload.h"

static const char *prog = "tsconvert";

/* Converted and non-contiguous tensors are gathered in pieces this big. */
#define CHUNK ((uint64_t)4 << 20)

/* The temporary file, removed by the signal handler. */
static char tmp_path[4096];
static volatile sig_atomic_t tmp_live;

static void on_signal(int sig)
{
	if (tmp_live)
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tsconvert [OPTIONS] ARCHIVE OUTPUT.safetensors\n"
		"  (default)            the state_dict tensors, quantized ones\n"
		"                       dequantized to F32; shared tensors written\n"
		"                       once per name\n"
		"  --all                also plain tensor attributes, packed\n"
		"                       parameters (__getstate__) and constants\n"
		"  --dedupe             write a shared tensor once; the other names\n"
		"                       are recorded in __metadata__ as aliases\n"
		"  --keep-quantized     write quantized tensors as their integers,\n"
		"                       with NAME.scale and NAME.zero_point tensors\n"
		"  --skip-unsupported   skip tensors safetensors cannot hold\n"
		"                       (complex, sparse...) and list them, instead\n"
		"                       of failing\n"
		"  -q, --quiet          no summary on standard error\n"
		"  --version            print the version\n"
		"  -h, --help           this text\n");
}

/* One tensor of the output. */
struct out_tensor {
	char *key;                 /* malloc'd */
	const tsl_tensor *t;       /* the source (NULL: a scalar param) */
	int mode;                  /* WRITE_* */
	tsl_dtype dtype;           /* as written */
	size_t ndim;
	const int64_t *shape;      /* borrowed (NULL: scalar) */
	uint64_t nbytes;
	uint64_t begin;
	unsigned char scalar[8];   /* WRITE_SCALAR: the value */
	size_t storage;            /* the entry's storage number */
	int last_use;              /* release the storage after writing */
};

enum {
	WRITE_AS_IS,               /* the stored elements (gathered if not
	                              contiguous) */
	WRITE_F32,                 /* converted / dequantized to float32 */
	WRITE_UNPACK,              /* quint4x2 / quint2x4 as one uint8 each */
	WRITE_SCALAR               /* an 8-byte scalar from `scalar` */
};

struct conv {
	const char *archive;
	tsl_model *m;
	int all, dedupe, keep_q, skip_unsup, quiet;
	struct out_tensor *o;
	size_t n, cap;
	/* metadata pairs (malloc'd strings) */
	char **meta;
	size_t nmeta, capmeta;
	size_t nskipped;
};

/* err's message, with the record and offset it names (static buffer). */
static const char *err_text(const tsl_error *err)
{
	static char buf[512];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", err->message);
	n = strlen(buf);
	if (err->record[0] && err->offset != UINT64_MAX)
		snprintf(buf + n, sizeof(buf) - n, " [record %s, offset %"
			PRIu64 "]", err->record, err->offset);
	else if (err->record[0] && !strstr(err->message, err->record))
		snprintf(buf + n, sizeof(buf) - n, " [record %s]", err->record);
	else if (err->offset != UINT64_MAX)
		snprintf(buf + n, sizeof(buf) - n, " [offset %" PRIu64 "]",
			err->offset);
	return buf;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "%s: out of memory\n", prog);
		if (tmp_live)
			unlink(tmp_path);
		exit(1);
	}
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static char *xcat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = xrealloc(NULL, la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

static void add_meta(struct conv *c, char *key, char *val)
{
	if (c->nmeta + 2 > c->capmeta) {
		c->capmeta = c->capmeta ? c->capmeta * 2 : 16;
		c->meta = xrealloc(c->meta, c->capmeta * sizeof(*c->meta));
	}
	c->meta[c->nmeta++] = key;
	c->meta[c->nmeta++] = val;
}

static struct out_tensor *add_out(struct conv *c)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->o = xrealloc(c->o, c->cap * sizeof(*c->o));
	}
	memset(&c->o[c->n], 0, sizeof(c->o[0]));
	c->o[c->n].storage = SIZE_MAX;
	return &c->o[c->n++];
}

/* Why safetensors cannot hold the tensor, or NULL when it can. */
static const char *unsupported(const struct conv *c, const tsl_tensor *t)
{
	tsl_dtype d = tsl_tensor_dtype(t);

	if (tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED)
		return "a sparse tensor";
	if (tsl_tensor_qscheme(t) != TSL_QSCHEME_NONE ||
	    d == TSL_QINT8 || d == TSL_QUINT8 || d == TSL_QINT32 ||
	    d == TSL_QUINT4X2 || d == TSL_QUINT2X4)
		return c->keep_q || tsl_dtype_can_gather(d, TSL_FLOAT32) ?
			NULL : "a quantized dtype without a conversion";
	if (!tsl_dtype_safetensors_name(d))
		return "a dtype safetensors has no name for";
	return NULL;
}

static int add_tensor(struct conv *c, const tsl_tensor_entry *e)
{
	const tsl_tensor *t = e->tensor;
	tsl_dtype d = tsl_tensor_dtype(t);
	const char *why = unsupported(c, t);
	struct out_tensor *o;
	tsl_error err = { .offset = UINT64_MAX };
	uint64_t numel;
	int q = tsl_tensor_qscheme(t) != TSL_QSCHEME_NONE;
	char dname[64];

	if (why) {
		snprintf(dname, sizeof(dname), "%s",
			tsl_dtype_name(d) ? tsl_dtype_name(d) : "unknown");
		if (!c->skip_unsup) {
			fprintf(stderr, "%s: %s: tensor '%s' (%s) cannot be "
				"written to safetensors: %s (use "
				"--skip-unsupported to leave it out)\n", prog,
				c->archive, e->name, dname, why);
			return -1;
		}
		if (!c->quiet)
			fprintf(stderr, "%s: skipped '%s' (%s): %s\n", prog,
				e->name, dname, why);
		add_meta(c, xcat("skipped:", e->name), xstrdup(dname));
		c->nskipped++;
		return 0;
	}
	o = add_out(c);
	o->key = xstrdup(e->name);
	o->t = t;
	o->ndim = tsl_tensor_ndim(t);
	o->shape = tsl_tensor_shape(t);
	o->storage = e->storage;
	numel = tsl_tensor_numel(t);
	if (q && !c->keep_q) {
		o->mode = WRITE_F32;
		o->dtype = TSL_FLOAT32;
	} else if (q || d == TSL_QINT8 || d == TSL_QUINT8 || d == TSL_QINT32 ||
		   d == TSL_QUINT4X2 || d == TSL_QUINT2X4) {
		o->mode = d == TSL_QUINT4X2 || d == TSL_QUINT2X4 ?
			WRITE_UNPACK : WRITE_AS_IS;
		o->dtype = d == TSL_QINT8 ? TSL_INT8 : d == TSL_QINT32 ?
			TSL_INT32 : TSL_UINT8;
	} else {
		o->mode = WRITE_AS_IS;
		o->dtype = d;
	}
	if (tsl_tensor_gather_size(t, o->mode == WRITE_F32 ? TSL_FLOAT32 :
			o->mode == WRITE_UNPACK ? TSL_UINT8 : d, &o->nbytes,
			&err)) {
		fprintf(stderr, "%s: %s: tensor '%s': %s\n", prog, c->archive,
			e->name, err_text(&err));
		return -1;
	}
	if (o->mode == WRITE_UNPACK)
		o->nbytes = numel;
	if (q && c->keep_q) {
		/* the quantizer's parameters as tensors of their own */
		int qs = tsl_tensor_qscheme(t);
		char axis[32];

		if (qs == TSL_QSCHEME_PER_TENSOR_AFFINE ||
		    qs == TSL_QSCHEME_PER_TENSOR_SYMMETRIC) {
			double s = tsl_tensor_q_scale(t);
			int64_t z = tsl_tensor_q_zero_point(t);
			struct out_tensor *p = add_out(c);

			p->key = xcat(e->name, ".scale");
			p->mode = WRITE_SCALAR;
			p->dtype = TSL_FLOAT64;
			p->nbytes = 8;
			memcpy(p->scalar, &s, 8);
			p = add_out(c);
			p->key = xcat(e->name, ".zero_point");
			p->mode = WRITE_SCALAR;
			p->dtype = TSL_INT64;
			p->nbytes = 8;
			memcpy(p->scalar, &z, 8);
		} else {
			const tsl_tensor *pt[2] = { tsl_tensor_q_scales(t),
				tsl_tensor_q_zero_points(t) };
			const char *sfx[2] = { ".scale", ".zero_point" };

			for (int k = 0; k < 2; k++) {
				struct out_tensor *p;

				if (!pt[k] || !tsl_dtype_safetensors_name(
						tsl_tensor_dtype(pt[k]))) {
					fprintf(stderr, "%s: %s: tensor '%s' "
						"has a malformed quantizer\n",
						prog, c->archive, e->name);
					return -1;
				}
				p = add_out(c);
				p->key = xcat(e->name, sfx[k]);
				p->t = pt[k];
				p->mode = WRITE_AS_IS;
				p->dtype = tsl_tensor_dtype(pt[k]);
				p->ndim = tsl_tensor_ndim(pt[k]);
				p->shape = tsl_tensor_shape(pt[k]);
				if (tsl_tensor_gather_size(pt[k], p->dtype,
						&p->nbytes, &err)) {
					fprintf(stderr, "%s: %s: tensor '%s': "
						"%s\n", prog, c->archive,
						e->name, err_text(&err));
					return -1;
				}
			}
			snprintf(axis, sizeof(axis), "%" PRId64,
				tsl_tensor_q_axis(t));
			add_meta(c, xcat(e->name, ".axis"), xstrdup(axis));
		}
		add_meta(c, xcat(e->name, ".qscheme"), xstrdup(
			qs == TSL_QSCHEME_PER_TENSOR_AFFINE ? "per_tensor_affine" :
			qs == TSL_QSCHEME_PER_TENSOR_SYMMETRIC ?
			"per_tensor_symmetric" :
			qs == TSL_QSCHEME_PER_CHANNEL_AFFINE ?
			"per_channel_affine" :
			qs == TSL_QSCHEME_PER_CHANNEL_SYMMETRIC ?
			"per_channel_symmetric" :
			"per_channel_affine_float_qparams"));
		add_meta(c, xcat(e->name, ".dtype"), xstrdup(
			tsl_dtype_name(d)));
	}
	return 0;
}

/* --- the JSON header ---------------------------------------------------- */

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		while (b->n + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (0: invalid). */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) { n = 2; cp = s[0] & 0x1f; }
	else if ((s[0] & 0xf0) == 0xe0) { n = 3; cp = s[0] & 0x0f; }
	else if ((s[0] & 0xf8) == 0xf0) { n = 4; cp = s[0] & 0x07; }
	else return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 become U+00XX. */
static void put_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	put(b, "\"", 1);
	while (left) {
		size_t n = utf8_len(p, left);
		char tmp[8];

		if (n == 1 && (*p < 0x20 || *p == '"' || *p == '\\')) {
			if (*p == '"' || *p == '\\') {
				tmp[0] = '\\';
				tmp[1] = (char)*p;
				put(b, tmp, 2);
			} else {
				snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
				put(b, tmp, 6);
			}
		} else if (n == 0) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
			put(b, tmp, 6);
			n = 1;
		} else {
			put(b, (const char *)p, n);
		}
		p += n;
		left -= n;
	}
	put(b, "\"", 1);
}

/* --- writing ------------------------------------------------------------ */

static int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = write(fd, s, n > (1u << 30) ? (1u << 30) : n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmp_out(const void *a, const void *b)
{
	const struct out_tensor *x = a, *y = b;
	size_t sx = tsl_dtype_size(x->dtype), sy = tsl_dtype_size(y->dtype);

	/* larger elements first, so that each tensor is aligned to its
	 * element size (the data starts 8-aligned); then by key */
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int write_tensor(struct conv *c, int fd, struct out_tensor *o)
{
	tsl_error err = { .offset = UINT64_MAX };
	const void *p;
	size_t sz;
	void *buf;
	int rc;

	if (o->mode == WRITE_SCALAR)
		return write_all(fd, o->scalar, 8) ? -2 : 0;
	if (o->nbytes == 0)
		return 0;
	if (o->mode == WRITE_AS_IS && tsl_tensor_is_contiguous(o->t) &&
	    tsl_tensor_dtype(o->t) != TSL_QUINT4X2 &&
	    tsl_tensor_dtype(o->t) != TSL_QUINT2X4) {
		rc = tsl_tensor_contiguous_data(o->t, &p, &sz, &err);
		if (rc)
			goto fail;
		if (!p || sz != o->nbytes) {
			snprintf(err.message, sizeof(err.message),
				"its record holds no data");
			goto fail;
		}
		return write_all(fd, p, sz) ? -2 : 0;
	}
	if (o->mode != WRITE_UNPACK) {
		/* converted or gathered in pieces of at most CHUNK bytes:
		 * the memory used does not grow with the tensor */
		tsl_dtype to = o->mode == WRITE_F32 ? TSL_FLOAT32 :
			tsl_tensor_dtype(o->t);
		uint64_t esz = tsl_dtype_size(to), n = o->nbytes / esz;
		uint64_t per = CHUNK / esz;

		buf = malloc(o->nbytes < CHUNK ? o->nbytes : CHUNK);
		if (!buf) {
			snprintf(err.message, sizeof(err.message),
				"out of memory");
			goto fail;
		}
		for (uint64_t first = 0; first < n; first += per) {
			uint64_t cnt = n - first < per ? n - first : per;

			rc = tsl_tensor_gather_range(o->t, to, first, cnt, buf,
				(size_t)(cnt * esz), &err);
			if (rc) {
				free(buf);
				goto fail;
			}
			if (write_all(fd, buf, (size_t)(cnt * esz))) {
				free(buf);
				return -2;
			}
		}
		free(buf);
		return 0;
	}
	if (o->nbytes > SIZE_MAX / 2) {
		snprintf(err.message, sizeof(err.message), "too large");
		goto fail;
	}
	buf = malloc(o->nbytes);
	if (!buf) {
		snprintf(err.message, sizeof(err.message), "out of memory");
		goto fail;
	}
	{
		uint64_t packed;
		unsigned bits = tsl_tensor_dtype(o->t) == TSL_QUINT4X2 ? 4 : 2;
		unsigned char *u = buf;

		rc = tsl_tensor_gather_size(o->t, tsl_tensor_dtype(o->t),
			&packed, &err);
		if (!rc) {
			unsigned char *pk = malloc(packed ? packed : 1);

			rc = pk ? tsl_tensor_gather(o->t, tsl_tensor_dtype(o->t),
				pk, packed, &err) : TSL_ENOMEM;
			if (!pk)
				snprintf(err.message, sizeof(err.message),
					"out of memory");
			for (uint64_t i = 0; !rc && i < o->nbytes; i++)
				u[i] = (unsigned char)((pk[i / (8 / bits)] >>
					((i % (8 / bits)) * bits)) &
					((1u << bits) - 1));
			free(pk);
		}
	}
	if (!rc && write_all(fd, buf, o->nbytes)) {
		free(buf);
		return -2;
	}
	free(buf);
	if (rc)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "%s: %s: cannot read tensor '%s': %s\n", prog,
		c->archive, o->key, err_text(&err));
	return -1;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The name a JSON reader gets from put_str's string, in UTF-8: a byte
 * that is not UTF-8 is U+00XX there, so "\xed" (written \u00ed) and
 * "\xc3\xad" (written as is) are one name.  A new string. */
static char *read_back(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), o = 0;
	char *out = xrealloc(NULL, 2 * left + 1);

	while (left) {
		size_t n = utf8_len(p, left);

		if (n == 0) {   /* U+00XX in UTF-8 */
			out[o++] = (char)(0xc0 | (*p >> 6));
			out[o++] = (char)(0x80 | (*p & 0x3f));
			n = 1;
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		left -= n;
	}
	out[o] = '\0';
	return out;
}

/* Every key once, as a reader gets it back (read_back): two names that
 * differ only in bytes that are not UTF-8 can be one name once written,
 * and a reader would keep one of the two. */
static int check_keys(struct conv *c)
{
	char **k = xrealloc(NULL, (c->n ? c->n : 1) * sizeof(*k));
	int rc = 0;

	for (size_t i = 0; i < c->n; i++)
		k[i] = read_back(c->o[i].key);
	qsort(k, c->n, sizeof(*k), cmp_key);
	for (size_t i = 0; i + 1 < c->n && !rc; i++)
		if (strcmp(k[i], k[i + 1]) == 0) {
			fprintf(stderr, "%s: %s: two tensors would be written "
				"under the name '%s'\n", prog, c->archive, k[i]);
			rc = -1;
		}
	for (size_t i = 0; i < c->n; i++)
		free(k[i]);
	free(k);
	return rc;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int convert(struct conv *c, const char *output)
{
	size_t count, nout;
	struct buf h = { 0 };
	tsl_error err = { .offset = UINT64_MAX };
	uint64_t off = 0, hlen;
	unsigned char le[8];
	int fd = -1, rc = 1, in_place = 0;
	char *dir_end, *resolved = NULL;
	struct sigaction sa;
	struct stat st;
	mode_t um;

	if (tsl_model_tensor_count(c->m, &count, &err)) {
		fprintf(stderr, "%s: %s: cannot list the tensors: %s\n", prog,
			c->archive, err_text(&err));
		return 1;
	}
	for (size_t i = 0; i < count; i++) {
		tsl_tensor_entry e;

		if (tsl_model_tensor_at(c->m, i, &e))
			return 1;
		if (!c->all && !e.state_dict)
			continue;
		if (c->dedupe && e.alias_of != SIZE_MAX) {
			tsl_tensor_entry a;

			if (tsl_model_tensor_at(c->m, e.alias_of, &a))
				return 1;
			if ((c->all || a.state_dict) && !unsupported(c, a.tensor)) {
				add_meta(c, xcat("alias:", e.name),
					xstrdup(a.name));
				continue;
			}
		}
		if (add_tensor(c, &e))
			return 1;
	}
	nout = c->n;
	if (nout > 1)
		qsort(c->o, nout, sizeof(*c->o), cmp_out);
	if (check_keys(c))
		return 1;
	/* the last writer of each storage releases its pages */
	{
		size_t nst = 0, *last;

		for (size_t i = 0; i < nout; i++)
			if (c->o[i].storage != SIZE_MAX &&
			    c->o[i].storage >= nst)
				nst = c->o[i].storage + 1;
		last = xrealloc(NULL, (nst ? nst : 1) * sizeof(*last));
		for (size_t i = 0; i < nst; i++)
			last[i] = SIZE_MAX;
		for (size_t i = 0; i < nout; i++)
			if (c->o[i].storage != SIZE_MAX)
				last[c->o[i].storage] = i;
		for (size_t i = 0; i < nout; i++)
			c->o[i].last_use = c->o[i].storage != SIZE_MAX &&
				last[c->o[i].storage] == i;
		free(last);
	}
	/* header */
	puts_(&h, "{\"__metadata__\":{\"format\":\"pt\",\"source_format\":");
	put_str(&h, tsl_file_kind_name(tsl_model_kind(c->m)));
	puts_(&h, ",\"source_file\":");
	put_str(&h, base_name(c->archive));
	puts_(&h, ",\"converted_by\":\"tsconvert " TSL_VERSION_STRING "\"");
	for (size_t i = 0; i < c->nmeta; i += 2) {
		puts_(&h, ",");
		put_str(&h, c->meta[i]);
		puts_(&h, ":");
		put_str(&h, c->meta[i + 1]);
	}
	puts_(&h, "}");
	for (size_t i = 0; i < nout; i++) {
		struct out_tensor *o = &c->o[i];
		char tmp[128];

		o->begin = off;
		if (off + o->nbytes < off) {
			fprintf(stderr, "%s: %s: the output would exceed 2^64 "
				"bytes\n", prog, c->archive);
			return 1;
		}
		off += o->nbytes;
		puts_(&h, ",");
		put_str(&h, o->key);
		snprintf(tmp, sizeof(tmp), ":{\"dtype\":\"%s\",\"shape\":[",
			tsl_dtype_safetensors_name(o->dtype));
		puts_(&h, tmp);
		for (size_t d = 0; d < o->ndim; d++) {
			snprintf(tmp, sizeof(tmp), "%s%" PRId64, d ? "," : "",
				o->shape[d]);
			puts_(&h, tmp);
		}
		snprintf(tmp, sizeof(tmp), "],\"data_offsets\":[%" PRIu64 ",%"
			PRIu64 "]}", o->begin, off);
		puts_(&h, tmp);
	}
	puts_(&h, "}");
	while (h.n % 8)
		puts_(&h, " ");
	hlen = h.n;
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(hlen >> (8 * i));

	/* where the bytes go: a symbolic link's target (the link stays),
	 * and a device or FIFO (/dev/null, /dev/stdout, a pipe) written in
	 * place; else a temporary file next to the output, renamed over it */
	if (lstat(output, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (!(resolved = realpath(output, NULL))) {
			fprintf(stderr, "%s: cannot follow the symbolic link "
				"%s: %s\n", prog, output, strerror(errno));
			goto out;
		}
		output = resolved;
	}
	if (stat(output, &st) == 0 && !S_ISREG(st.st_mode) &&
	    !S_ISDIR(st.st_mode)) {
		fd = open(output, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "%s: cannot open %s: %s\n", prog,
				output, strerror(errno));
			goto out;
		}
		in_place = 1;
		goto write;
	}
	if (strlen(output) + 16 > sizeof(tmp_path)) {
		fprintf(stderr, "%s: %s: output path too long\n", prog, output);
		goto out;
	}
	snprintf(tmp_path, sizeof(tmp_path), "%s", output);
	dir_end = strrchr(tmp_path, '/');
	snprintf(dir_end ? dir_end + 1 : tmp_path, sizeof(tmp_path) -
		(size_t)(dir_end ? dir_end + 1 - tmp_path : 0),
		".%s.XXXXXX", base_name(output));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	{
		sigset_t all, old;

		/* no signal between creating the file and marking it */
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, &old);
		fd = mkstemp(tmp_path);
		if (fd >= 0)
			tmp_live = 1;
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (fd < 0) {
		fprintf(stderr, "%s: cannot create a file next to %s: %s\n",
			prog, output, strerror(errno));
		goto out;
	}
	um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um))
		goto io_error;
write:
	if (write_all(fd, le, 8) || write_all(fd, h.p, h.n))
		goto io_error;
	for (size_t i = 0; i < nout; i++) {
		int w = write_tensor(c, fd, &c->o[i]);

		if (w == -2)
			goto io_error;
		if (w)
			goto out;
		if (c->o[i].last_use && c->o[i].t)
			(void)tsl_storage_release(tsl_tensor_storage(c->o[i].t),
				NULL);
	}
	if (!in_place && fsync(fd))
		goto io_error;
	if (close(fd)) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	if (!in_place && rename(tmp_path, output)) {
		fprintf(stderr, "%s: cannot rename the output into place as "
			"%s: %s\n", prog, output, strerror(errno));
		goto out;
	}
	tmp_live = 0;
	rc = 0;
	if (!c->quiet)
		fprintf(stderr, "%s: wrote %zu tensors (%" PRIu64 " bytes of "
			"data) to %s%s\n", prog, nout, off, output,
			c->nskipped ? ", skipping some" : "");
	goto out;
io_error:
	fprintf(stderr, "%s: cannot write %s: %s\n", prog, output,
		strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp_live) {
		unlink(tmp_path);
		tmp_live = 0;
	}
	free(resolved);
	free(h.p);
	return rc;
}

int main(int argc, char **argv)
{
	struct conv c;
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_error err = { .offset = UINT64_MAX };
	const char *args[2];
	size_t nargs = 0;
	int rc, only_args = 0;

	memset(&c, 0, sizeof(c));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (nargs == 2) {
				fprintf(stderr, "%s: too many arguments: %s\n",
					prog, a);
				usage(stderr);
				return 2;
			}
			args[nargs++] = a;
		} else if (strcmp(a, "--") == 0) {
			only_args = 1;
		} else if (strcmp(a, "--all") == 0) {
			c.all = 1;
		} else if (strcmp(a, "--dedupe") == 0) {
			c.dedupe = 1;
		} else if (strcmp(a, "--keep-quantized") == 0) {
			c.keep_q = 1;
		} else if (strcmp(a, "--skip-unsupported") == 0) {
			c.skip_unsup = 1;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			c.quiet = 1;
		} else if (strcmp(a, "--version") == 0) {
			printf("tsconvert %s\n", tsl_version());
			return 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "%s: unknown option %s\n", prog, a);
			usage(stderr);
			return 2;
		}
	}
	if (nargs != 2) {
		fprintf(stderr, "%s: expected an archive and an output file\n",
			prog);
		usage(stderr);
		return 2;
	}
	c.archive = args[0];
	opts.flags |= TSL_OPEN_CHECKPOINTS;
	opts.map_location = "cpu";
	rc = tsl_load_path(&c.m, c.archive, &opts, &err);
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, c.archive, err_text(&err));
		return 1;
	}
	rc = convert(&c, args[1]);
	for (size_t i = 0; i < c.n; i++)
		free(c.o[i].key);
	free(c.o);
	for (size_t i = 0; i < c.nmeta; i++)
		free(c.meta[i]);
	free(c.meta);
	tsl_model_free(c.m);
	return rc;
}
