/*
 * inflate.c - raw deflate (RFC 1951) into a buffer of the known size (see
 * inflate.h).
 *
 * Decoding: a 64-bit bit buffer refilled before every symbol (8 bytes at a
 * time while 8 remain, then byte by byte, then with zero bytes that are
 * counted: consuming one of them is a truncated stream).  A refill leaves
 * at least 56 bits, enough for a literal/length code, its extra bits, a
 * distance code and its extra bits (15 + 5 + 15 + 13).
 *
 * Huffman tables: canonical codes (count per length, symbols in code
 * order) plus one direct lookup table over the first 9 bits (literal /
 * length) or 7 bits (distance, code length codes).  A table entry carries
 * what the symbol means (literal byte, length or distance base and its
 * extra bits, end of block, invalid), so decoding a symbol is one lookup.
 * Longer codes, rare in practice, are decoded bit by bit from the counts.
 * Small tables matter more than fast long codes here: most records are
 * under 2 KiB, decoded from one block, so building its tables is a large
 * part of the work.  Code sets are checked as zlib checks them: an
 * over-subscribed set is refused, an incomplete one too unless it is a
 * single code of one bit (or no code at all, which then cannot decode).
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "inflate.h"

#define LIT_BITS 9
#define DIST_BITS 7
#define PRE_BITS 7

/* entry: bits 0-4 code length (0: not in the direct table), 8-11 extra
 * bits, 12-13 kind, 16-31 value */
enum { K_LIT = 0, K_COPY = 1, K_END = 2, K_BAD = 3 };
enum { T_LIT, T_DIST, T_PRE };

#define ENTRY(kind, value, extra, len) \
	((uint32_t)(value) << 16 | (uint32_t)(kind) << 12 | \
	(uint32_t)(extra) << 8 | (uint32_t)(len))
#define KIND(e) (((e) >> 12) & 3)

struct huff {
	uint8_t kind;                  /* T_* */
	uint8_t bits;                  /* direct table bits */
	uint16_t count[16];            /* codes per length */
	uint16_t sym[288];             /* symbols in canonical order */
	uint32_t fast[1 << LIT_BITS];  /* first 1 << bits used */
};

struct bits {
	const uint8_t *p, *end;
	uint64_t buf;   /* cnt valid bits, low first */
	unsigned cnt;
	size_t over;    /* zero bytes loaded past the end */
};

static const uint16_t len_base[29] = {
	3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51,
	59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
static const uint8_t len_extra[29] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4,
	4, 5, 5, 5, 5, 0 };
static const uint16_t dist_base[30] = {
	1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
	513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385,
	24577 };
static const uint8_t dist_extra[30] = {
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10,
	10, 11, 11, 12, 12, 13, 13 };
/* the order code length code lengths come in */
static const uint8_t pre_order[19] = {
	16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15 };

#define R2(n) n, n + 128, n + 64, n + 192
#define R4(n) R2(n), R2(n + 32), R2(n + 16), R2(n + 48)
#define R6(n) R4(n), R4(n + 8), R4(n + 4), R4(n + 12)
static const uint8_t rev8[256] = {
	R6(0), R6(2), R6(1), R6(3) };

/* the low len bits of code, reversed (len <= 9 here) */
static inline unsigned rev(unsigned code, unsigned len)
{
	return ((unsigned)rev8[code & 0xff] << 8 | rev8[(code >> 8) & 0xff]) >>
		(16 - len);
}

static uint32_t entry(unsigned kind, unsigned sym, unsigned len)
{
	if (kind == T_LIT) {
		if (sym < 256)
			return ENTRY(K_LIT, sym, 0, len);
		if (sym == 256)
			return ENTRY(K_END, 0, 0, len);
		if (sym < 286)
			return ENTRY(K_COPY, len_base[sym - 257],
				len_extra[sym - 257], len);
		return ENTRY(K_BAD, 0, 0, len);
	}
	if (kind == T_DIST)
		return sym < 30 ? ENTRY(K_COPY, dist_base[sym], dist_extra[sym],
			len) : ENTRY(K_BAD, 0, 0, len);
	return ENTRY(K_LIT, sym, 0, len);
}

/* t[half..2*half) = t[0..half): fixed-size copies, which compile to a few
 * vector moves (a variable-size memcpy became `rep movsq` here, slow to
 * start for a few hundred bytes). */
static void twice(uint32_t *t, unsigned half)
{
	if (half < 8) {
		for (unsigned j = 0; j < half; j++)
			t[half + j] = t[j];
		return;
	}
	for (unsigned j = 0; j < half; j += 8)
		memcpy(t + half + j, t + j, 8 * sizeof *t);
}

/* Build h from n code lengths; -1 for a set zlib refuses. */
static int build(struct huff *h, const uint8_t *lens, unsigned n,
	unsigned kind, unsigned bits)
{
	uint16_t offs[16], c4[4][16];
	unsigned len, i, k = 0, code = 0, max = 0;
	int left = 1;

	/* four counters per length: runs of equal lengths (the usual case)
	 * would otherwise wait on the previous increment's store */
	memset(c4, 0, sizeof c4);
	for (i = 0; i + 4 <= n; i += 4) {
		c4[0][lens[i]]++;
		c4[1][lens[i + 1]]++;
		c4[2][lens[i + 2]]++;
		c4[3][lens[i + 3]]++;
	}
	for (; i < n; i++)
		c4[0][lens[i]]++;
	h->count[0] = 0;
	for (len = 1; len <= 15; len++)
		h->count[len] = (uint16_t)(c4[0][len] + c4[1][len] + c4[2][len] +
			c4[3][len]);
	for (len = 1; len <= 15; len++) {
		left = 2 * left - h->count[len];
		if (left < 0)
			return -1;   /* over-subscribed */
		if (h->count[len])
			max = len;
	}
	if (max && left > 0 && (kind == T_PRE || max != 1))
		return -1;           /* incomplete */
	h->kind = (uint8_t)kind;
	h->bits = (uint8_t)bits;
	offs[1] = 0;
	for (len = 1; len < 15; len++)
		offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
	for (i = 0; i < n; i++)
		if (lens[i])
			h->sym[offs[lens[i]]++] = (uint16_t)i;
	/* Codes of length len go to their (bit-reversed) place among the
	 * first 2^len entries; then the table is doubled by copying, which
	 * repeats every shorter code over the longer prefixes.  Entries that
	 * no code of <= bits reaches stay 0: "slow" (a longer code, or none). */
	h->fast[0] = h->fast[1] = 0;
	for (len = 1; len <= bits; len++) {
		for (i = 0; i < h->count[len]; i++, code++)
			h->fast[rev(code, len)] = entry(kind, h->sym[k++], len);
		code <<= 1;
		if (len < bits)
			twice(h->fast, 1u << len);
	}
	return 0;
}

static struct huff fixed_lit, fixed_dist;
static pthread_once_t fixed_once = PTHREAD_ONCE_INIT;

static void fixed_init(void)
{
	uint8_t lens[288];

	memset(lens, 8, 144);
	memset(lens + 144, 9, 112);
	memset(lens + 256, 7, 24);
	memset(lens + 280, 8, 8);
	(void)build(&fixed_lit, lens, 288, T_LIT, LIT_BITS);
	memset(lens, 5, 32);
	(void)build(&fixed_dist, lens, 32, T_DIST, DIST_BITS);
}

/* At least 56 bits in the buffer. */
static inline void refill(struct bits *b)
{
	if ((size_t)(b->end - b->p) >= 8) {
		/* bits past cnt are the next bytes' own: OR-ing them again
		 * changes nothing */
		b->buf |= tsl__le64(b->p) << b->cnt;
		b->p += (63 - b->cnt) >> 3;
		b->cnt |= 56;
		return;
	}
	while (b->cnt <= 56) {
		if (b->p < b->end)
			b->buf |= (uint64_t)*b->p++ << b->cnt;
		else
			b->over++;
		b->cnt += 8;
	}
}

static inline uint32_t take(struct bits *b, unsigned n)
{
	uint32_t v = (uint32_t)(b->buf & (((uint64_t)1 << n) - 1));

	b->buf >>= n;
	b->cnt -= n;
	return v;
}

/* More bits consumed than the input has. */
static inline bool overrun(const struct bits *b)
{
	return b->over * 8 > b->cnt;
}

/* A code longer than the direct table, bit by bit from the low bits of
 * buf: its entry (with its length), or K_BAD (length 0) for none. */
static uint32_t slow(const struct huff *h, uint64_t buf)
{
	int code = 0, first = 0, index = 0;

	for (unsigned len = 1; len <= 15; len++) {
		int count = h->count[len];

		code |= (int)(buf & 1);
		buf >>= 1;
		if (code - count < first)
			return entry(h->kind, h->sym[index + (code - first)],
				len);
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	return ENTRY(K_BAD, 0, 0, 0);
}

/* One symbol (the buffer holds at least 15 bits); bits: h->bits. */
static inline uint32_t decode(const struct huff *h, struct bits *b,
	unsigned bits)
{
	uint32_t e = h->fast[b->buf & ((1u << bits) - 1)];
	unsigned len;

	if (__builtin_expect((e & 31) == 0, 0))
		e = slow(h, b->buf);
	len = e & 31;
	b->buf >>= len;
	b->cnt -= len;
	return e;
}

/* The input byte holding the next bit to read. */
static size_t where(const struct bits *b, const uint8_t *in)
{
	size_t loaded = (size_t)(b->p - in) + b->over;
	size_t used = loaded - b->cnt / 8;

	return used < (size_t)(b->end - in) ? used : (size_t)(b->end - in);
}

/* The code lengths of a dynamic block, and its tables. */
static const char *dynamic(struct bits *b, struct huff *lit,
	struct huff *dist)
{
	struct huff pre;
	uint8_t lens[286 + 30];
	unsigned nlen, ndist, ncode, n = 0, total, i;

	refill(b);
	nlen = take(b, 5) + 257;
	ndist = take(b, 5) + 1;
	ncode = take(b, 4) + 4;
	if (nlen > 286 || ndist > 30)
		return "too many length or distance symbols";
	memset(lens, 0, 19);
	for (i = 0; i < ncode; i++) {
		if (b->cnt < 3)
			refill(b);
		lens[pre_order[i]] = (uint8_t)take(b, 3);
	}
	if (build(&pre, lens, 19, T_PRE, PRE_BITS))
		return "invalid code length code lengths";
	total = nlen + ndist;
	while (n < total) {
		uint32_t e;
		unsigned sym, rep, val = 0;

		refill(b);
		e = decode(&pre, b, PRE_BITS);
		if (KIND(e) == K_BAD)
			return "invalid code length code";
		sym = e >> 16;
		if (sym < 16) {
			lens[n++] = (uint8_t)sym;
			continue;
		}
		if (sym == 16) {
			if (n == 0)
				return "code length repeat with no length before";
			val = lens[n - 1];
			rep = 3 + take(b, 2);
		} else if (sym == 17) {
			rep = 3 + take(b, 3);
		} else {
			rep = 11 + take(b, 7);
		}
		if (rep > total - n)
			return "code length repeat past the last length";
		memset(lens + n, (int)val, rep);
		n += rep;
	}
	if (overrun(b))
		return "truncated stream";
	if (lens[256] == 0)
		return "no end-of-block code";
	if (build(lit, lens, nlen, T_LIT, LIT_BITS))
		return "invalid literal/length code lengths";
	if (build(dist, lens + nlen, ndist, T_DIST, DIST_BITS))
		return "invalid distance code lengths";
	return NULL;
}

static const char MORE[] = "decodes to more bytes than declared";

/* The symbols of one block, up to its end: NULL, or why not (MORE when
 * the output would overflow).  The bit buffer lives in a local copy so
 * that it stays in registers. */
static const char *codes(struct bits *bp, const struct huff *lt,
	const struct huff *dt, uint8_t *out, uint8_t **opp, uint8_t *oend)
{
	struct bits b = *bp;
	uint8_t *op = *opp;
	const char *why = NULL;

	for (;;) {
		uint32_t en, ed;
		size_t len, d;
		const uint8_t *src;

		refill(&b);
		en = decode(lt, &b, LIT_BITS);
		if (KIND(en) == K_LIT) {
			if (op == oend)
				goto more_out;
			*op++ = (uint8_t)(en >> 16);
			continue;
		}
		if (KIND(en) == K_END)
			break;
		if (KIND(en) == K_BAD) {
			why = "invalid literal/length code";
			goto out;
		}
		len = (en >> 16) + take(&b, (en >> 8) & 15);
		ed = decode(dt, &b, DIST_BITS);
		if (KIND(ed) != K_COPY) {
			why = "invalid distance code";
			goto out;
		}
		d = (ed >> 16) + take(&b, (ed >> 8) & 15);
		if (d > (size_t)(op - out)) {
			why = "distance too far back";
			goto out;
		}
		if (len > (size_t)(oend - op))
			goto more_out;
		src = op - d;
		if (d >= 8 && (size_t)(oend - op) >= len + 8) {
			/* 8 bytes at a time: each read is at least 8 bytes
			 * behind the write, and the overshoot stays inside
			 * out (rewritten later) */
			uint8_t *stop = op + len;

			do {
				memcpy(op, src, 8);
				op += 8;
				src += 8;
			} while (op < stop);
			op = stop;
		} else if (d == 1) {
			memset(op, *src, len);
			op += len;
		} else {
			while (len--)
				*op++ = *src++;
		}
	}
	goto out;
more_out:
	why = MORE;
out:
	*bp = b;
	*opp = op;
	return why;
}

int tsl__inflate(const uint8_t *in, size_t in_len, uint8_t *out,
	size_t out_len, tsl_inflate_error *e)
{
	struct bits b = { in, in + in_len, 0, 0, 0 };
	uint8_t *op = out, *const oend = out + out_len;
	struct huff lit, dist;
	const struct huff *lt, *dt;
	const char *why = NULL;
	unsigned final;

	do {
		refill(&b);
		final = take(&b, 1);
		switch (take(&b, 2)) {
		case 0: {   /* stored */
			size_t back, n;

			take(&b, b.cnt & 7);   /* to a byte boundary */
			back = b.cnt / 8;
			if (back < b.over) {
				why = "truncated stream";
				goto fail;
			}
			/* give the buffered bytes back, read the rest as is */
			b.p -= back - b.over;
			b.over = 0;
			b.buf = 0;
			b.cnt = 0;
			if (b.end - b.p < 4) {
				why = "truncated stream";
				goto fail;
			}
			n = tsl__le16(b.p);
			if (n != (~(unsigned)tsl__le16(b.p + 2) & 0xffffu)) {
				why = "stored block length and its complement "
					"disagree";
				goto fail;
			}
			b.p += 4;
			if ((size_t)(b.end - b.p) < n) {
				why = "truncated stream";
				goto fail;
			}
			if ((size_t)(oend - op) < n) {
				why = MORE;
				goto fail;
			}
			memcpy(op, b.p, n);
			op += n;
			b.p += n;
			continue;
		}
		case 1:
			pthread_once(&fixed_once, fixed_init);
			lt = &fixed_lit;
			dt = &fixed_dist;
			break;
		case 2:
			if ((why = dynamic(&b, &lit, &dist)) != NULL)
				goto fail;
			lt = &lit;
			dt = &dist;
			break;
		default:
			why = "invalid block type";
			goto fail;
		}
		if ((why = codes(&b, lt, dt, out, &op, oend)) != NULL)
			goto fail;
		if (overrun(&b)) {
			why = "truncated stream";
			goto fail;
		}
	} while (!final);
	if (op != oend) {
		why = "decodes to fewer bytes than declared";
		goto fail;
	}
	return TSL_OK;
fail:
	e->why = why;
	e->at = where(&b, in);
	return TSL_EFORMAT;
}
