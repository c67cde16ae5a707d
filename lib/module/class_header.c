/*
 * class_header.c - class headers and signatures from code/ source files
 * (see class_header.h and FORMAT.md section 6).
 *
 * The file is cut into lines.  A class runs from its `class` line to the next
 * non-blank line at column 0.  Inside it, a line indented by exactly two
 * spaces is a member; deeper lines belong to the method above.  Each part is
 * walked once; members collect in scratch arrays, then move to the arena.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "class_header.h"

/* nesting of brackets in a signature or a type, far above anything written */
#define MAX_NEST 256

typedef struct slice {
	const char *p;
	size_t n;
} slice;

typedef struct parser {
	const char *s;
	size_t len;
	tsl_arena *arena;
	const char *record;
	uint64_t base;
	tsl_error *err;
	const char *self_type;  /* qualified class name, or NULL */
	const char *self_copy;  /* its copy in the arena, made when first used */
	bool lazy;              /* stop at a class's first def (see
	                           tsl__class_header_parse_lazy) */
	bool has_getstate;      /* the class has a "  def __getstate__(" */
	bool has_setstate;      /* ...or "  def __setstate__(" line */
	slice last_type;        /* the last type text normalised... */
	const char *last_norm;  /* ...and its result: types repeat (a
	                           ModuleList of 10,000 Linear) */
} parser;


/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static int perr(parser *p, size_t pos, const char *fmt, ...) TSL_PRINTF(3, 4);

static int perr(parser *p, size_t pos, const char *fmt, ...)
{
	char pre[32];
	size_t line = 1, i = 0;
	const char *nl;
	uint64_t off = TSL_NO_OFFSET;
	va_list ap;

	if (!p->err)
		return TSL_EFORMAT;
	if (pos > p->len)
		pos = p->len;
	while (i < pos && (nl = memchr(p->s + i, '\n', pos - i)) != NULL) {
		line++;
		i = (size_t)(nl - p->s) + 1;
	}
	if (p->base != TSL_NO_OFFSET && tsl__add_u64(p->base, pos, &off))
		off = TSL_NO_OFFSET;
	snprintf(pre, sizeof pre, "line %zu: ", line);
	va_start(ap, fmt);
	tsl__error_va(p->err, TSL_EFORMAT, p->record, off, pre, fmt, ap);
	va_end(ap);
	return TSL_EFORMAT;
}

static int nomem(parser *p, size_t pos)
{
	uint64_t off = TSL_NO_OFFSET;

	if (p->base != TSL_NO_OFFSET && tsl__add_u64(p->base, pos, &off))
		off = TSL_NO_OFFSET;
	return tsl__arena_error(p->arena, p->err, p->record, off);
}

/* ------------------------------------------------------------------------ */
/* Characters, lines and slices                                             */
/* ------------------------------------------------------------------------ */

/* 1: may start an identifier, 2: may continue one (a table: these run
 * once per byte of every code file) */
static const uint8_t ident_class[256] = {
	['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2,
	['6'] = 2, ['7'] = 2, ['8'] = 2, ['9'] = 2, ['_'] = 3,
	['a'] = 3, ['b'] = 3, ['c'] = 3, ['d'] = 3, ['e'] = 3, ['f'] = 3,
	['g'] = 3, ['h'] = 3, ['i'] = 3, ['j'] = 3, ['k'] = 3, ['l'] = 3,
	['m'] = 3, ['n'] = 3, ['o'] = 3, ['p'] = 3, ['q'] = 3, ['r'] = 3,
	['s'] = 3, ['t'] = 3, ['u'] = 3, ['v'] = 3, ['w'] = 3, ['x'] = 3,
	['y'] = 3, ['z'] = 3,
	['A'] = 3, ['B'] = 3, ['C'] = 3, ['D'] = 3, ['E'] = 3, ['F'] = 3,
	['G'] = 3, ['H'] = 3, ['I'] = 3, ['J'] = 3, ['K'] = 3, ['L'] = 3,
	['M'] = 3, ['N'] = 3, ['O'] = 3, ['P'] = 3, ['Q'] = 3, ['R'] = 3,
	['S'] = 3, ['T'] = 3, ['U'] = 3, ['V'] = 3, ['W'] = 3, ['X'] = 3,
	['Y'] = 3, ['Z'] = 3,
};

static inline bool is_ident_start(unsigned char c)
{
	return ident_class[c] & 1;
}

static inline bool is_ident_char(unsigned char c)
{
	return ident_class[c] & 2;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
		c == '\v';
}

/* The end of the line starting at pos: the '\n' or len. */
static size_t line_end(const parser *p, size_t pos)
{
	const char *nl = memchr(p->s + pos, '\n', p->len - pos);

	return nl ? (size_t)(nl - p->s) : p->len;
}

/* The start of the next line. */
static size_t next_line(const parser *p, size_t pos)
{
	size_t e = line_end(p, pos);

	return e < p->len ? e + 1 : e;
}

static size_t indent_of(const parser *p, size_t pos, size_t end)
{
	size_t i = pos;

	while (i < end && p->s[i] == ' ')
		i++;
	return i - pos;
}

static bool blank_range(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space((unsigned char)s[i]))
			return false;
	return true;
}

static slice trim(slice t)
{
	while (t.n && is_space((unsigned char)t.p[0])) {
		t.p++;
		t.n--;
	}
	while (t.n && is_space((unsigned char)t.p[t.n - 1]))
		t.n--;
	return t;
}

static bool starts(slice t, const char *lit)
{
	size_t n = strlen(lit);

	return t.n >= n && memcmp(t.p, lit, n) == 0;
}

static bool equals(slice t, const char *lit)
{
	return t.n == strlen(lit) && memcmp(t.p, lit, t.n) == 0;
}

static size_t ident_len(slice t)
{
	size_t i = 0;

	if (!t.n || !is_ident_start((unsigned char)t.p[0]))
		return 0;
	while (i < t.n && is_ident_char((unsigned char)t.p[i]))
		i++;
	return i;
}

static bool is_ident(slice t)
{
	return t.n && ident_len(t) == t.n;
}

static slice skip_spaces(slice t)
{
	while (t.n && (t.p[0] == ' ' || t.p[0] == '\t')) {
		t.p++;
		t.n--;
	}
	return t;
}

static size_t pos_of(const parser *p, const char *c)
{
	return (size_t)(c - p->s);
}

static const char *dup(parser *p, slice t)
{
	return tsl__arena_strndup(p->arena, t.p, t.n);
}

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

/* A type is names, dots, digits, brackets, parentheses, commas and spaces,
 * with brackets balanced: `Dict[str, Tuple[int, Optional[Tensor]]]`,
 * `Tuple[()]`, `__torch__.a.___torch_mangle_3.B`. */
static int check_type(parser *p, slice t)
{
	char stack[MAX_NEST];
	size_t depth = 0;

	if (!t.n)
		return perr(p, pos_of(p, t.p), "empty type annotation");
	for (size_t i = 0; i < t.n; i++) {
		unsigned char c = (unsigned char)t.p[i];

		if (c == '[' || c == '(') {
			if (depth == MAX_NEST)
				return perr(p, pos_of(p, t.p + i),
					"type nested too deeply");
			stack[depth++] = (char)(c == '[' ? ']' : ')');
		} else if (c == ']' || c == ')') {
			if (!depth || stack[depth - 1] != (char)c)
				return perr(p, pos_of(p, t.p + i),
					"unbalanced '%c' in type", c);
			depth--;
		} else if (!is_ident_char(c) && c != '.' && c != ',' &&
			c != ' ') {
			return perr(p, pos_of(p, t.p + i),
				"unexpected byte 0x%02x in type annotation", c);
		}
	}
	if (depth)
		return perr(p, pos_of(p, t.p + t.n), "unclosed '%c' in type",
			stack[depth - 1] == ']' ? '[' : '(');
	return TSL_OK;
}

/* Check t, then copy it with libtorch's spellings: a whole-word `None` reads
 * `NoneType`, `Tuple[]` reads `Tuple[()]`.  Output at most 2 * n bytes. */
static int norm_type(parser *p, slice t, const char **out)
{
	char *o;
	size_t k = 0;
	int rc;

	*out = NULL;
	if (p->last_norm && t.n == p->last_type.n &&
		memcmp(t.p, p->last_type.p, t.n) == 0) {
		*out = p->last_norm;
		return TSL_OK;
	}
	/* a plain (dotted) name needs no checking beyond its bytes, and only
	 * a lone `None` is respelled */
	{
		size_t i = 0;

		while (i < t.n && (is_ident_char((unsigned char)t.p[i]) ||
			t.p[i] == '.'))
			i++;
		if (i == t.n && t.n) {
			o = (char *)(equals(t, "None") ? "NoneType" :
				dup(p, t));
			if (!o)
				return nomem(p, pos_of(p, t.p));
			*out = o;
			p->last_type = t;
			p->last_norm = o;
			return TSL_OK;
		}
	}
	if ((rc = check_type(p, t)) != TSL_OK)
		return rc;
	if (t.n > (SIZE_MAX - 1) / 2)
		return nomem(p, pos_of(p, t.p));
	o = tsl__arena_alloc(p->arena, 2 * t.n + 1);
	if (!o)
		return nomem(p, pos_of(p, t.p));
	for (size_t i = 0; i < t.n;) {
		unsigned char c = (unsigned char)t.p[i];

		if (is_ident_char(c)) {
			size_t j = i;
			bool dotted = i > 0 && t.p[i - 1] == '.';

			while (j < t.n && is_ident_char((unsigned char)t.p[j]))
				j++;
			if (!dotted && j - i == 4 && memcmp(t.p + i, "None", 4) == 0 &&
				(j == t.n || t.p[j] != '.')) {
				memcpy(o + k, "NoneType", 8);
				k += 8;
			} else if (j - i == 5 && !dotted &&
				memcmp(t.p + i, "Tuple", 5) == 0 && j + 1 < t.n &&
				t.p[j] == '[' && t.p[j + 1] == ']') {
				memcpy(o + k, "Tuple[()]", 9);
				k += 9;
				j += 2;
			} else {
				memcpy(o + k, t.p + i, j - i);
				k += j - i;
			}
			i = j;
		} else {
			o[k++] = (char)c;
			i++;
		}
	}
	o[k] = '\0';
	*out = o;
	p->last_type = t;
	p->last_norm = o;
	return TSL_OK;
}

/* ------------------------------------------------------------------------ */
/* Balanced scanning (signatures)                                           */
/* ------------------------------------------------------------------------ */

/*
 * From pos, find the first byte at nesting depth 0 that is in `stops`,
 * skipping quoted strings (with backslash escapes) and bracketed groups.
 * Stops before `limit`.  A closing bracket at depth 0 that is not a stop is
 * an error; so is a string that runs past its line.  Reaching `limit` is an
 * error unless `to_end` (then *at = limit, when no bracket is open).
 * *commas counts the depth-0 commas passed (may be NULL).
 */
static int scan(parser *p, size_t pos, size_t limit, const char *stops,
	bool to_end, size_t *at, size_t *commas)
{
	char stack[MAX_NEST];
	size_t depth = 0, ncomma = 0;
	size_t i = pos;
	uint64_t stop[4] = { 0, 0, 0, 0 };

	for (const unsigned char *q = (const unsigned char *)stops; *q; q++)
		stop[*q >> 6] |= (uint64_t)1 << (*q & 63);
	while (i < limit) {
		unsigned char c = (unsigned char)p->s[i];

		if (!depth && (stop[c >> 6] >> (c & 63) & 1)) {
			*at = i;
			if (commas)
				*commas = ncomma;
			return TSL_OK;
		}
		switch (c) {
		case '"':
		case '\'': {
			size_t j = i + 1;

			while (j < limit && p->s[j] != (char)c && p->s[j] != '\n') {
				if (p->s[j] == '\\' && j + 1 < limit &&
					p->s[j + 1] != '\n')
					j++;
				j++;
			}
			if (j >= limit || p->s[j] != (char)c)
				return perr(p, i, "unterminated string");
			i = j + 1;
			continue;
		}
		case '(':
		case '[':
		case '{':
			if (depth == MAX_NEST)
				return perr(p, i, "brackets nested too deeply");
			stack[depth++] = (char)(c == '(' ? ')' : c == '[' ? ']' : '}');
			break;
		case ')':
		case ']':
		case '}':
			if (!depth || stack[depth - 1] != (char)c)
				return perr(p, i, "unbalanced '%c'", c);
			depth--;
			break;
		case ',':
			if (!depth)
				ncomma++;
			break;
		case '\0':
			return perr(p, i, "NUL byte in a signature");
		default:
			break;
		}
		i++;
	}
	if (!depth && to_end) {
		*at = limit;
		if (commas)
			*commas = ncomma;
		return TSL_OK;
	}
	if (depth)
		return perr(p, limit, "unclosed '%c'",
			stack[depth - 1] == ')' ? '(' :
			stack[depth - 1] == ']' ? '[' : '{');
	return perr(p, limit, "unexpected end of a signature");
}

/* ------------------------------------------------------------------------ */
/* def                                                                      */
/* ------------------------------------------------------------------------ */

/* One argument `name[: Type][=default]` in [a, b). */
static int parse_arg(parser *p, size_t a, size_t b, size_t index,
	tsl_class_arg *arg)
{
	size_t at, at2;
	slice name, type = { NULL, 0 }, def = { NULL, 0 };
	bool has_type = false, has_def = false;
	int rc;

	if ((rc = scan(p, a, b, ":=", true, &at, NULL)) != TSL_OK)
		return rc;
	name = trim((slice){ p->s + a, at - a });
	if (at < b && p->s[at] == ':') {
		has_type = true;
		if ((rc = scan(p, at + 1, b, "=", true, &at2, NULL)) != TSL_OK)
			return rc;
		type = trim((slice){ p->s + at + 1, at2 - at - 1 });
		at = at2;
	}
	if (at < b && p->s[at] == '=') {
		has_def = true;
		def = trim((slice){ p->s + at + 1, b - at - 1 });
		if (!def.n)
			return perr(p, at, "missing default value");
	}
	if (!is_ident(name))
		return perr(p, pos_of(p, name.p), "bad argument name");
	if (!(arg->name = dup(p, name)))
		return nomem(p, a);
	arg->annotated = has_type;
	if (has_type) {
		if ((rc = norm_type(p, type, &arg->type)) != TSL_OK)
			return rc;
	} else if (index == 0 && equals(name, "self")) {
		if (p->self_type && !p->self_copy && !(p->self_copy =
			tsl__arena_strndup(p->arena, p->self_type,
			strlen(p->self_type))))
			return nomem(p, a);
		arg->type = p->self_copy;
	} else {
		arg->type = "Tensor";
	}
	if (has_def) {
		if (memchr(def.p, '\0', def.n))
			return perr(p, pos_of(p, def.p), "NUL byte in a default");
		if (!(arg->default_text = dup(p, def)))
			return nomem(p, a);
	}
	return TSL_OK;
}

/*
 * Parse the def whose line starts at `line` (at `indent` spaces) and whose
 * extent (signature and body) is [line, end).  The signature must close
 * inside the extent, and a body line must follow it.
 */
static int parse_def(parser *p, size_t line, size_t indent, size_t end,
	tsl_class_method *m)
{
	size_t pos = line + indent + 4; /* after "def " */
	size_t open, close, commas, nargs, a, le, arrow_end;
	slice name, rest;
	int rc;

	m->offset = line;
	m->src = p->s + line;
	m->src_len = end - line;
	le = line_end(p, line);
	name = skip_spaces((slice){ p->s + pos, le - pos });
	name.n = ident_len(name);
	if (!name.n)
		return perr(p, pos, "bad function name");
	open = pos_of(p, name.p) + name.n;
	while (open < le && p->s[open] == ' ')
		open++;
	if (open >= le || p->s[open] != '(')
		return perr(p, open, "expected '(' after def %.*s",
			(int)(name.n > 64 ? 64 : name.n), name.p);
	if (!(m->name = dup(p, name)))
		return nomem(p, line);

	/* pass 1: the closing parenthesis and the number of arguments */
	if ((rc = scan(p, open + 1, end, ")", false, &close, &commas)) !=
		TSL_OK)
		return rc;
	nargs = commas + 1;
	m->args = tsl__arena_calloc(p->arena, nargs, sizeof *m->args);
	if (!m->args)
		return nomem(p, open);
	/* pass 2: each argument */
	a = open + 1;
	for (size_t i = 0; i < nargs; i++) {
		size_t b;

		if ((rc = scan(p, a, close + 1, ",)", false, &b, NULL)) !=
			TSL_OK)
			return rc;
		if (blank_range(p->s + a, b - a)) {
			/* `f()` or a trailing comma `f(a, )` */
			if (b != close || (i == 0 && nargs > 1))
				return perr(p, a, "empty argument");
			break;
		}
		if ((rc = parse_arg(p, a, b, m->nargs, &m->args[m->nargs])) !=
			TSL_OK)
			return rc;
		m->nargs++;
		a = b + 1;
	}

	/* `) -> Type:` on the line of the closing parenthesis */
	le = line_end(p, close);
	rest = skip_spaces((slice){ p->s + close + 1, le - close - 1 });
	if (starts(rest, "->")) {
		size_t colon;
		slice rt;

		arrow_end = pos_of(p, rest.p) + 2;
		if ((rc = scan(p, arrow_end, le, ":", true, &colon, NULL)) !=
			TSL_OK)
			return rc;
		if (colon >= le)
			return perr(p, arrow_end, "expected ':' after return type");
		rt = trim((slice){ p->s + arrow_end, colon - arrow_end });
		if ((rc = norm_type(p, rt, &m->return_type)) != TSL_OK)
			return rc;
		rest = (slice){ p->s + colon, le - colon };
	}
	if (!rest.n || rest.p[0] != ':')
		return perr(p, pos_of(p, rest.p), "expected ':' to end def %s",
			m->name);
	/* the body: something after the colon or on a following line */
	rest.p++;
	rest.n--;
	if (blank_range(rest.p, rest.n)) {
		size_t q = le < p->len ? le + 1 : le;

		if (q >= end || blank_range(p->s + q, end - q))
			return perr(p, le, "def %s has no body", m->name);
	}
	return TSL_OK;
}

/*
 * The extent of a def at `line` with indentation `indent`: the def line,
 * then every line that is blank or indented deeper, up to `limit`.
 */
static size_t def_extent(const parser *p, size_t line, size_t indent,
	size_t limit)
{
	size_t q = next_line(p, line);

	while (q < limit) {
		size_t le = line_end(p, q), in = indent_of(p, q, le);

		if (!blank_range(p->s + q, le - q) && in <= indent)
			break;
		q = le < p->len ? le + 1 : le;
	}
	return q < limit ? q : limit;
}

/* ------------------------------------------------------------------------ */
/* Name lists: __parameters__ = ["a", "b", ]                                  */
/* ------------------------------------------------------------------------ */

/* A growing array of members, in malloc'd scratch memory while a class
 * body is walked once; kept (copied into the arena) at the end. */
typedef struct grow {
	void *v;
	size_t n, cap;
	bool in_arena;          /* v is the items' final place (arena_items) */
} grow;

/* A zeroed new last item of g (items of `size` bytes), or NULL.  The items
 * end up in the arena, so they count against its limit already: a class of
 * millions of members fails with TSL_ELIMIT before its scratch array grows
 * past max_meta_bytes. */
static void *grow_add(parser *p, grow *g, size_t size)
{
	void *item;
	uint64_t need;

	if (p->arena->limit && !g->in_arena &&
		(tsl__mul_u64((uint64_t)g->n + 1, size, &need) ||
		 tsl__add_u64(need, p->arena->total, &need) ||
		 need > p->arena->limit)) {
		p->arena->over_limit = true;
		return NULL;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		void *v;

		if (cap > SIZE_MAX / size ||
			!(v = realloc(g->in_arena ? NULL : g->v, cap * size)))
			return NULL;
		if (g->in_arena)   /* past the bound: cannot happen */
			memcpy(v, g->v, g->n * size);
		g->v = v;
		g->cap = cap;
		g->in_arena = false;
	}
	item = (char *)g->v + g->n * size;
	memset(item, 0, size);
	g->n++;
	return item;
}

/* Copy g's items into the arena (*out, *n); frees the scratch memory.
 * Items in the arena already stay where they are. */
static int grow_keep(parser *p, grow *g, size_t size, void **out, size_t *n,
	size_t pos)
{
	*out = NULL;
	*n = g->n;
	if (g->in_arena) {
		*out = g->n ? g->v : NULL;
		g->v = NULL;
		g->cap = 0;
		return TSL_OK;
	}
	if (g->n && (*out = tsl__arena_calloc(p->arena, g->n, size)) != NULL)
		memcpy(*out, g->v, g->n * size);
	free(g->v);
	g->v = NULL;
	g->cap = 0;
	return *n && !*out ? nomem(p, pos) : TSL_OK;
}

/*
 * The writer prints names between quotes without escaping them, each
 * followed by ", ".  An item is `"..."` up to the next `", ` or `"]`, or a
 * bare word up to ", " or "]" (seen in some writers' hook lists).
 */
static int parse_list(parser *p, slice v, const char ***out, size_t *count)
{
	grow g = { NULL, 0, 0, false };
	size_t i;
	int rc = TSL_OK;
	void *kept;

	v = trim(v);
	if (!v.n || v.p[0] != '[' || v.p[v.n - 1] != ']')
		return perr(p, pos_of(p, v.p), "expected a [\"name\", ] list");
	i = 1;
	for (;;) {
		slice item;
		size_t j;
		const char **slot;

		while (i < v.n - 1 && v.p[i] == ' ')
			i++;
		if (i >= v.n - 1)
			break;
		if (v.p[i] == '"') {
			j = i + 1;
			while (j < v.n - 1 && !(v.p[j] == '"' &&
				(v.p[j + 1] == ']' ||
				 (v.p[j + 1] == ',' && j + 2 < v.n &&
				  (v.p[j + 2] == ' ' || v.p[j + 2] == ']')))))
				j++;
			if (j >= v.n - 1) {
				rc = perr(p, pos_of(p, v.p + i),
					"unterminated name in list");
				break;
			}
			item = (slice){ v.p + i + 1, j - i - 1 };
			i = j + 1;
		} else {
			j = i;
			while (j < v.n - 1 && v.p[j] != ',')
				j++;
			item = trim((slice){ v.p + i, j - i });
			if (!is_ident(item)) {
				rc = perr(p, pos_of(p, v.p + i), "bad name in list");
				break;
			}
			i = j;
		}
		if (memchr(item.p, '\0', item.n)) {
			rc = perr(p, pos_of(p, item.p), "NUL byte in a name");
			break;
		}
		if (!(slot = grow_add(p, &g, sizeof *slot)) ||
			!(*slot = dup(p, item))) {
			rc = nomem(p, pos_of(p, item.p));
			break;
		}
		if (i < v.n - 1) {
			if (v.p[i] != ',') {
				rc = perr(p, pos_of(p, v.p + i),
					"expected ',' in list");
				break;
			}
			i++;
		}
	}
	if (rc == TSL_OK &&
		(rc = grow_keep(p, &g, sizeof **out, &kept, count,
			pos_of(p, v.p))) == TSL_OK)
		*out = kept;
	free(g.v);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* A name set (params/buffers/hooks), open addressing in the arena           */
/* ------------------------------------------------------------------------ */

typedef struct name_set {
	const char **slot;      /* NULL: search names[0..n) */
	size_t mask;
	const char **names;
	size_t n;
} name_set;

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* Up to this many names a set is searched in place (a module lists a
 * handful of parameters); beyond, it is hashed (a ModuleList of 10,000). */
#define SET_LINEAR 16

static int set_build(parser *p, name_set *set, const char **names, size_t n)
{
	size_t cap = 8;

	set->slot = NULL;
	set->mask = 0;
	set->names = names;
	set->n = n;
	if (n <= SET_LINEAR)
		return TSL_OK;
	while (cap < 2 * n) {
		if (cap > SIZE_MAX / 4)
			return nomem(p, 0);
		cap *= 2;
	}
	set->slot = tsl__arena_calloc(p->arena, cap, sizeof *set->slot);
	if (!set->slot)
		return nomem(p, 0);
	set->mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		size_t h = (size_t)hash_str(names[i]) & set->mask;

		while (set->slot[h] && strcmp(set->slot[h], names[i]) != 0)
			h = (h + 1) & set->mask;
		set->slot[h] = names[i];
	}
	return TSL_OK;
}

static bool set_has(const name_set *set, const char *name)
{
	size_t h;

	if (!set->slot) {
		for (size_t i = 0; i < set->n; i++)
			if (strcmp(set->names[i], name) == 0)
				return true;
		return false;
	}
	h = (size_t)hash_str(name) & set->mask;
	while (set->slot[h]) {
		if (strcmp(set->slot[h], name) == 0)
			return true;
		h = (h + 1) & set->mask;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Class bodies                                                             */
/* ------------------------------------------------------------------------ */

typedef enum member {
	M_BLANK,
	M_DEF,
	M_ATTR,         /* name : T [= default] */
	M_CONST,        /* name : Final[T] = v */
	M_ANNOT,        /* __annotations__["x"] = T */
	M_PARAMS,
	M_BUFFERS,
	M_PREHOOKS,
	M_HOOKS,
	M_ENUM,         /* NAME = v */
	M_SKIP,         /* __annotations__ = [], other dunders, pass */
	M_BAD
} member;

/* t: the line after its two-space indentation, right-trimmed. */
static member classify(slice t, tsl_class_kind kind)
{
	size_t n = ident_len(t);
	slice r;

	if (!t.n)
		return M_BLANK;
	if (starts(t, "def ") || starts(t, "def\t"))
		return M_DEF;
	if (equals(t, "pass"))
		return M_SKIP;
	if (starts(t, "__annotations__[") || starts(t, "__annotations__ ["))
		return M_ANNOT;
	if (!n)
		return M_BAD;
	r = skip_spaces((slice){ t.p + n, t.n - n });
	if (r.n && r.p[0] == ':') {
		r = skip_spaces((slice){ r.p + 1, r.n - 1 });
		return starts(r, "Final[") ? M_CONST : M_ATTR;
	}
	if (!r.n || r.p[0] != '=')
		return M_BAD;
	t.n = n;
	if (equals(t, "__parameters__"))
		return M_PARAMS;
	if (equals(t, "__buffers__"))
		return M_BUFFERS;
	if (equals(t, "__forward_pre_hooks__"))
		return M_PREHOOKS;
	if (equals(t, "__forward_hooks__"))
		return M_HOOKS;
	if (n > 4 && starts(t, "__") && t.p[n - 1] == '_' && t.p[n - 2] == '_')
		return M_SKIP;
	return kind == TSL_CLASS_ENUM ? M_ENUM : M_BAD;
}

/* Is member m allowed in a class of this kind? */
static bool allowed(member m, tsl_class_kind kind)
{
	switch (kind) {
	case TSL_CLASS_MODULE:
	case TSL_CLASS_PLAIN:
		return m != M_ENUM;
	case TSL_CLASS_NAMEDTUPLE:
		return m == M_ATTR || m == M_SKIP;
	case TSL_CLASS_ENUM:
		return m == M_ENUM || m == M_SKIP;
	case TSL_CLASS_INTERFACE:
	case TSL_CLASS_MODULE_INTERFACE:
		return m == M_DEF || m == M_SKIP;
	}
	return false;
}

/* `name : T`, `name : T = default`, `name : Final[T] = v` */
static int parse_attr_line(parser *p, slice t, bool is_const,
	tsl_class_attr *attr, const char **def, tsl_class_const *cst)
{
	size_t n = ident_len(t), at;
	slice name = { t.p, n }, r, type, val = { NULL, 0 };
	int rc;

	r = skip_spaces((slice){ t.p + n, t.n - n });
	r = (slice){ r.p + 1, r.n - 1 }; /* past ':' (checked by classify) */
	/* the type runs to a depth-0 '=' or to the end of the line; with no
	 * '=' at all it is the whole rest (norm_type checks its brackets) */
	if (!memchr(r.p, '=', r.n))
		at = pos_of(p, r.p + r.n);
	else if ((rc = scan(p, pos_of(p, r.p), pos_of(p, r.p + r.n), "=",
		true, &at, NULL)) != TSL_OK)
		return rc;
	type = trim((slice){ r.p, at - pos_of(p, r.p) });
	if (at < pos_of(p, r.p + r.n)) {
		val = trim((slice){ p->s + at + 1, pos_of(p, r.p + r.n) - at - 1 });
		if (!val.n)
			return perr(p, at, "missing value after '='");
		if (memchr(val.p, '\0', val.n))
			return perr(p, pos_of(p, val.p), "NUL byte in a value");
	}
	if (is_const) {
		/* Final[T] */
		if (!starts(type, "Final[") || type.p[type.n - 1] != ']')
			return perr(p, pos_of(p, type.p), "bad Final annotation");
		if (!val.n)
			return perr(p, pos_of(p, type.p + type.n),
				"constant without a value");
		type = trim((slice){ type.p + 6, type.n - 7 });
		if (!(cst->name = dup(p, name)) || !(cst->value_text = dup(p, val)))
			return nomem(p, pos_of(p, t.p));
		return norm_type(p, type, &cst->type);
	}
	if (!(attr->name = dup(p, name)))
		return nomem(p, pos_of(p, t.p));
	if (val.n && !(*def = dup(p, val)))
		return nomem(p, pos_of(p, t.p));
	return norm_type(p, type, &attr->type);
}

/* `__annotations__["name"] = T`: the name is not escaped by the writer, so it
 * runs to the last `"] =` on the line (types hold no quotes). */
static int parse_annot_line(parser *p, slice t, tsl_class_attr *attr)
{
	const char *q = memchr(t.p, '[', t.n);
	const char *close = NULL;
	slice name, type;

	q++;
	if (q >= t.p + t.n || *q != '"')
		return perr(p, pos_of(p, t.p), "expected __annotations__[\"name\"]");
	/* the last `"]` on the line: types hold no quotes, so it follows
	 * the last '"' (searched from the end) */
	for (const char *end = t.p + t.n; end > q + 1;) {
		const char *c = memrchr(q + 1, '"', (size_t)(end - q - 1));

		if (!c)
			break;
		if (c + 1 < t.p + t.n && c[1] == ']') {
			close = c;
			break;
		}
		end = c;
	}
	if (!close)
		return perr(p, pos_of(p, q), "unterminated __annotations__ key");
	name = (slice){ q + 1, (size_t)(close - q - 1) };
	type = skip_spaces((slice){ close + 2, (size_t)(t.p + t.n - close - 2) });
	if (!type.n || type.p[0] != '=')
		return perr(p, pos_of(p, close), "expected '=' after __annotations__ key");
	type = trim((slice){ type.p + 1, type.n - 1 });
	if (memchr(name.p, '\0', name.n))
		return perr(p, pos_of(p, name.p), "NUL byte in a name");
	if (!(attr->name = dup(p, name)))
		return nomem(p, pos_of(p, t.p));
	return norm_type(p, type, &attr->type);
}

static int parse_enum_line(parser *p, slice t, tsl_class_enum_member *e)
{
	size_t n = ident_len(t);
	slice v = skip_spaces((slice){ t.p + n, t.n - n });

	v = trim((slice){ v.p + 1, v.n - 1 }); /* past '=' */
	if (!v.n)
		return perr(p, pos_of(p, t.p), "enum member without a value");
	if (memchr(v.p, '\0', v.n))
		return perr(p, pos_of(p, v.p), "NUL byte in a value");
	if (!(e->name = dup(p, (slice){ t.p, n })) || !(e->value_text = dup(p, v)))
		return nomem(p, pos_of(p, t.p));
	return TSL_OK;
}

/* A NamedTuple field's default, while the class is walked. */
struct attr_default {
	size_t i;              /* the attribute */
	const char *text;
};

typedef struct members {
	grow attrs, consts, methods, enums;
	grow defaults;         /* struct attr_default */
} members;

#define ANNOT_HEAD "  __annotations__[\""
#define ANNOT_HEAD_LEN 19

/*
 * The line at q if it is exactly `  __annotations__["name"] = T` (what the
 * writer prints for each member of a ModuleList, Sequential or ModuleDict:
 * thousands of lines in big ones), parsed into a new attribute; *next is
 * the start of the following line.  Returns 1 when done, 0 when the line
 * has another shape (a quote in the type, spaces at the end, no " = ", a
 * NUL in the name...) and must take the general way, which then reports
 * what is wrong with it; or an error code.  For a line of that shape the
 * result is what parse_annot_line makes of it.
 */
static int annot_fast(parser *p, size_t q, size_t end, members *k,
	size_t *next)
{
	const char *s = p->s + q + ANNOT_HEAD_LEN, *le, *c;
	slice type;
	tsl_class_attr *at;
	int rc;

	le = memchr(s, '\n', end - q - ANNOT_HEAD_LEN);
	if (!le)
		le = p->s + end;
	c = memchr(s, '"', (size_t)(le - s));
	if (!c || le - c < 6 || memcmp(c, "\"] = ", 5) != 0)
		return 0;
	type = (slice){ c + 5, (size_t)(le - c - 5) };
	if (is_space((unsigned char)type.p[0]) ||
		is_space((unsigned char)type.p[type.n - 1]) ||
		memchr(type.p, '"', type.n) || memchr(s, '\0', (size_t)(c - s)))
		return 0;
	if (!(at = grow_add(p, &k->attrs, sizeof *at)) ||
		!(at->name = dup(p, (slice){ s, (size_t)(c - s) })))
		return nomem(p, q);
	if ((rc = norm_type(p, type, &at->type)) != TSL_OK)
		return rc;
	*next = le < p->s + p->len ? (size_t)(le - p->s) + 1 :
		(size_t)(le - p->s);
	return 1;
}

/*
 * Walk the class body [body, end) once, parsing its members into k (the
 * caller keeps or frees them).
 */
static int walk_members(parser *p, size_t body, size_t end,
	tsl_class_info *ci, members *k)
{
	size_t q = body;
	int rc;

	while (q < end) {
		size_t le, in;
		slice t;
		member m;

		if (end - q > ANNOT_HEAD_LEN + 5 && !k->methods.n &&
			memcmp(p->s + q, ANNOT_HEAD, ANNOT_HEAD_LEN) == 0 &&
			allowed(M_ANNOT, ci->kind)) {
			if ((rc = annot_fast(p, q, end, k, &q)) == 1)
				continue;
			if (rc != 0)
				return rc;
		}
		le = line_end(p, q);
		in = indent_of(p, q, le);
		if (le > end)
			le = end;
		t = trim((slice){ p->s + q, le - q });
		if (!t.n) {
			q = le < p->len ? le + 1 : le;
			continue;
		}
		if (in != 2)
			return perr(p, q, "unexpected indentation (%zu spaces) in class %s",
				in, ci->name);
		m = classify(t, ci->kind);
		if (m == M_BAD || !allowed(m, ci->kind))
			return perr(p, q, "unexpected line in %s class %s",
				tsl__class_kind_name(ci->kind), ci->name);
		if (m == M_DEF && p->lazy) {
			/* everything from here on is methods and hooks: they
			 * are parsed when first asked for; only the two that
			 * change what the state means are looked for now */
			ci->lazy_methods = true;
			ci->methods_offset = q;
			ci->has_getstate = p->has_getstate;
			ci->has_setstate = p->has_setstate;
			return TSL_OK;
		}
		if (m == M_DEF) {
			size_t de = def_extent(p, q, 2, end);
			tsl_class_method *mt = grow_add(p, &k->methods, sizeof *mt);

			if (!mt)
				return nomem(p, q);
			if ((rc = parse_def(p, q, 2, de, mt)) != TSL_OK)
				return rc;
			if (!strcmp(mt->name, "__getstate__"))
				ci->has_getstate = true;
			if (!strcmp(mt->name, "__setstate__"))
				ci->has_setstate = true;
			q = de;
			continue;
		}
		if (k->methods.n && m != M_SKIP)
			return perr(p, q, "declaration after a method in class %s",
				ci->name);
		switch (m) {
		case M_ATTR:
		case M_ANNOT: {
			tsl_class_attr *at = grow_add(p, &k->attrs, sizeof *at);
			const char *def = NULL;
			struct attr_default *d;

			if (!at)
				return nomem(p, q);
			rc = m == M_ATTR ? parse_attr_line(p, t, false, at, &def,
				NULL) : parse_annot_line(p, t, at);
			if (rc != TSL_OK)
				return rc;
			if (def && ci->kind != TSL_CLASS_NAMEDTUPLE)
				return perr(p, q, "attribute with a value in class %s",
					ci->name);
			if (def) {
				if (!(d = grow_add(p, &k->defaults, sizeof *d)))
					return nomem(p, q);
				d->i = k->attrs.n - 1;
				d->text = def;
			}
			break;
		}
		case M_CONST: {
			tsl_class_const *cs;

			/* constants are not slots: the lazy (load-time) parse
			 * leaves them to the full parse of the class */
			if (p->lazy)
				break;
			if (!(cs = grow_add(p, &k->consts, sizeof *cs)))
				return nomem(p, q);
			rc = parse_attr_line(p, t, true, NULL, NULL, cs);
			if (rc != TSL_OK)
				return rc;
			break;
		}
		case M_ENUM: {
			tsl_class_enum_member *e = grow_add(p, &k->enums, sizeof *e);

			if (!e)
				return nomem(p, q);
			rc = parse_enum_line(p, t, e);
			if (rc != TSL_OK)
				return rc;
			break;
		}
		case M_PARAMS:
		case M_BUFFERS:
		case M_PREHOOKS:
		case M_HOOKS: {
			const char ***list;
			size_t *n;
			slice v = t;

			if (m == M_PARAMS) {
				list = &ci->parameters;
				n = &ci->nparameters;
				if (ci->has_parameters_line)
					return perr(p, q, "second __parameters__");
				ci->has_parameters_line = true;
			} else if (m == M_BUFFERS) {
				list = &ci->buffers;
				n = &ci->nbuffers;
				if (ci->has_buffers_line)
					return perr(p, q, "second __buffers__");
				ci->has_buffers_line = true;
			} else if (m == M_PREHOOKS) {
				list = &ci->forward_pre_hooks;
				n = &ci->nforward_pre_hooks;
			} else {
				list = &ci->forward_hooks;
				n = &ci->nforward_hooks;
			}
			if (*list)
				return perr(p, q, "list given twice");
			v.p = (const char *)memchr(t.p, '=', t.n) + 1;
			v.n = t.n - (size_t)(v.p - t.p);
			if ((rc = parse_list(p, v, list, n)) != TSL_OK)
				return rc;
			break;
		}
		default:
			break;
		}
		q = le < p->len ? le + 1 : le;
	}
	return TSL_OK;
}

/* A big class body's attributes go straight into the arena, in an array
 * of a bound on their number: its lines before the first def (every
 * attribute is a line of its own, and none comes after a method).  A
 * ModuleList of 10,000 modules has 10,000 of them: gathered in a scratch
 * array that doubles and then copied, they had left 513 KiB of freed heap
 * behind the load (doc/PERFORMANCE.md, issue 15, seventh round).  The
 * array's unused tail is never written, so its pages are never touched.
 * Small bodies (most) keep the scratch array: a bound would cost a pass
 * for little.  When the arena refuses (its limit), the scratch array is
 * used as before, and the limit is checked item by item. */
#define ARENA_ITEMS_MIN_BODY 4096

static void arena_items(parser *p, size_t body, size_t end, grow *g,
	size_t size)
{
	const char *s = p->s + body, *e = p->s + end;
	size_t lines = 0;
	bool over = p->arena->over_limit;
	void *v;

	if (end - body < ARENA_ITEMS_MIN_BODY)
		return;
	while (s < e) {
		const char *nl;

		if (e - s >= 6 && (memcmp(s, "  def ", 6) == 0 ||
			memcmp(s, "  @", 3) == 0))
			break;
		lines++;
		nl = memchr(s, '\n', (size_t)(e - s));
		if (!nl)
			break;
		s = nl + 1;
	}
	if (!lines)
		return;
	v = tsl__arena_calloc(p->arena, lines, size);
	if (!v) {   /* not an error: the scratch array will do */
		p->arena->over_limit = over;
		return;
	}
	g->v = v;
	g->cap = lines;
	g->in_arena = true;
}

/* Walk the body once and keep its members in ci. */
static int walk_body(parser *p, size_t body, size_t end, tsl_class_info *ci)
{
	members k;
	void *v;
	int rc;

	memset(&k, 0, sizeof k);
	arena_items(p, body, end, &k.attrs, sizeof *ci->attrs);
	rc = walk_members(p, body, end, ci, &k);
	if (rc == TSL_OK &&
		(rc = grow_keep(p, &k.attrs, sizeof *ci->attrs, &v,
			&ci->nattrs, body)) == TSL_OK)
		ci->attrs = v;
	if (rc == TSL_OK && k.defaults.n) {
		const struct attr_default *d = k.defaults.v;

		ci->attr_defaults = tsl__arena_calloc(p->arena, ci->nattrs,
			sizeof *ci->attr_defaults);
		if (!ci->attr_defaults)
			rc = nomem(p, body);
		for (size_t i = 0; rc == TSL_OK && i < k.defaults.n; i++)
			ci->attr_defaults[d[i].i] = d[i].text;
	}
	if (rc == TSL_OK &&
		(rc = grow_keep(p, &k.consts, sizeof *ci->consts, &v,
			&ci->nconsts, body)) == TSL_OK)
		ci->consts = v;
	if (rc == TSL_OK &&
		(rc = grow_keep(p, &k.methods, sizeof *ci->methods, &v,
			&ci->nmethods, body)) == TSL_OK)
		ci->methods = v;
	if (rc == TSL_OK &&
		(rc = grow_keep(p, &k.enums, sizeof *ci->enum_members, &v,
			&ci->nenum_members, body)) == TSL_OK)
		ci->enum_members = v;
	if (!k.attrs.in_arena)
		free(k.attrs.v);
	free(k.defaults.v);
	free(k.consts.v);
	free(k.methods.v);
	free(k.enums.v);
	return rc;
}

static int parse_class(parser *p, size_t line, size_t end, slice name,
	tsl_class_kind kind, tsl_class_info **out)
{
	tsl_class_info *ci;
	size_t body = next_line(p, line);
	name_set params, buffers, pre, hooks;
	int rc;

	ci = tsl__arena_alloc(p->arena, sizeof *ci);
	if (!ci || !(ci->name = dup(p, name)))
		return nomem(p, line);
	ci->kind = kind;
	ci->offset = line;
	ci->src = p->s + line;
	ci->src_len = end - line;
	if (body > end)
		body = end;
	if ((rc = walk_body(p, body, end, ci)) != TSL_OK)
		return rc;

	if ((rc = set_build(p, &params, ci->parameters, ci->nparameters)) ||
		(rc = set_build(p, &buffers, ci->buffers, ci->nbuffers)) ||
		(rc = set_build(p, &pre, ci->forward_pre_hooks,
			ci->nforward_pre_hooks)) ||
		(rc = set_build(p, &hooks, ci->forward_hooks, ci->nforward_hooks)))
		return rc;
	for (size_t i = 0; i < ci->nattrs; i++) {
		uint8_t f = (set_has(&params, ci->attrs[i].name) ?
			TSL_CLASS_ATTR_PARAMETER : 0) |
			(set_has(&buffers, ci->attrs[i].name) ?
			TSL_CLASS_ATTR_BUFFER : 0);

		if (!f)
			continue;
		/* made at the first: most classes have no parameter */
		if (!ci->attr_flags && !(ci->attr_flags =
			tsl__arena_calloc(p->arena, ci->nattrs, 1)))
			return nomem(p, line);
		ci->attr_flags[i] = f;
	}
	for (size_t i = 0; i < ci->nmethods; i++) {
		ci->methods[i].is_forward_pre_hook =
			set_has(&pre, ci->methods[i].name);
		ci->methods[i].is_forward_hook =
			set_has(&hooks, ci->methods[i].name);
	}
	*out = ci;
	return TSL_OK;
}

/* `class Name(Base):` -> name and kind.  rest: the line after "class". */
static int class_line(parser *p, size_t line, slice rest, slice *name,
	tsl_class_kind *kind)
{
	slice base;

	rest = trim(rest);
	name->p = rest.p;
	name->n = ident_len(rest);
	if (!name->n)
		return perr(p, line, "bad class name");
	rest = skip_spaces((slice){ rest.p + name->n, rest.n - name->n });
	if (equals(rest, ":")) {
		*kind = TSL_CLASS_PLAIN;
		return TSL_OK;
	}
	if (!rest.n || rest.p[0] != '(' || rest.n < 3 ||
		rest.p[rest.n - 1] != ':')
		return perr(p, line, "bad class line");
	base = skip_spaces((slice){ rest.p, rest.n - 1 });
	base = trim((slice){ base.p, base.n });
	if (!base.n || base.p[base.n - 1] != ')')
		return perr(p, line, "bad class line");
	base = trim((slice){ base.p + 1, base.n - 2 });
	if (equals(base, "Module"))
		*kind = TSL_CLASS_MODULE;
	else if (equals(base, "NamedTuple"))
		*kind = TSL_CLASS_NAMEDTUPLE;
	else if (equals(base, "Enum"))
		*kind = TSL_CLASS_ENUM;
	else if (equals(base, "Interface"))
		*kind = TSL_CLASS_INTERFACE;
	else if (equals(base, "ModuleInterface"))
		*kind = TSL_CLASS_MODULE_INTERFACE;
	else
		return perr(p, line, "class %.*s has an unknown base '%.*s'",
			(int)(name->n > 64 ? 64 : name->n), name->p,
			(int)(base.n > 64 ? 64 : base.n), base.p);
	return TSL_OK;
}

/* The end of a top-level statement starting at `line`: the next non-blank
 * line at column 0. */
static size_t top_extent(const parser *p, size_t line)
{
	size_t q = next_line(p, line);

	while (q < p->len) {
		size_t le = line_end(p, q);

		if (!is_space((unsigned char)p->s[q]) &&
			!blank_range(p->s + q, le - q))
			break;
		q = le < p->len ? le + 1 : le;
	}
	return q;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */
/* ------------------------------------------------------------------------ */

/* "  def" + blanks + __getstate__ / __setstate__ + spaces + "(" at q (a
 * line inside a class): 1 for getstate, 2 for setstate, else 0.  The
 * blanks are those parse_def takes. */
static int dunder_def(const char *src, size_t len, size_t q)
{
	size_t r = q + 5, s;

	if (len - q < 6 || memcmp(src + q, "  def", 5) != 0 ||
		(src[q + 5] != ' ' && src[q + 5] != '\t'))
		return 0;
	while (r < len && (src[r] == ' ' || src[r] == '\t'))
		r++;
	if (len - r < 12 || src[r] != '_' ||
		(memcmp(src + r, "__getstate__", 12) != 0 &&
		memcmp(src + r, "__setstate__", 12) != 0))
		return 0;
	for (s = r + 12; s < len && src[s] == ' '; s++)
		;
	if (s >= len || src[s] != '(')
		return 0;
	return src[r + 2] == 'g' ? 1 : 2;
}

/* One class of a file: the file's classes found in one pass
 * (tsl__class_file_index), then that class parsed from its lines. */
static int header_parse(tsl_class_info **out, const char *src,
	size_t len, const char *class_name, tsl_arena *arena,
	const char *record, uint64_t base_offset, bool lazy, tsl_error *err)
{
	tsl_class_file cf;
	int rc;

	if (out)
		*out = NULL;
	if (!out || (!src && len) || !class_name || !arena)
		return tsl__error(err, TSL_EINVAL, record, TSL_NO_OFFSET,
			"class_header_parse: bad argument");
	if (tsl__class_file_index(&cf, src, len))
		return tsl__error(err, TSL_ENOMEM, record, TSL_NO_OFFSET,
			"out of memory");
	rc = tsl__class_header_parse_in(out, &cf, src, len, class_name, arena,
		record, base_offset, lazy, err);
	tsl__class_file_free(&cf);
	return rc;
}

/* ---- a code file's classes, found once ---------------------------------- */

struct tsl_class_file_entry {
	const char *name;    /* the identifier after "class", in src */
	size_t name_len;
	size_t start, end;   /* its "class" line; the next line at column 0 */
	bool get, set;       /* __getstate__ / __setstate__ defined in it */
};

static int cf_cmp(const void *a, const void *b)
{
	const struct tsl_class_file_entry *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);

	if (c || x->name_len != y->name_len)
		return c ? c : x->name_len < y->name_len ? -1 : 1;
	return (x->start > y->start) - (x->start < y->start);
}

int tsl__class_file_index(tsl_class_file *out, const char *src, size_t len)
{
	parser p = { .s = src, .len = len };
	struct tsl_class_file_entry *e = NULL;
	size_t q = 0, n = 0, cap = 0, cur = SIZE_MAX;

	out->e = NULL;
	out->n = 0;
	/* the lines as header_parse walks them (see there) */
	while (q < len) {
		unsigned char c = (unsigned char)src[q];
		const char *nl;

		if (!is_space(c)) {
			if (cur != SIZE_MAX) {
				e[cur].end = q;
				cur = SIZE_MAX;
			}
			if (c == 'c' && len - q >= 6 &&
				memcmp(src + q, "class", 5) == 0 &&
				(src[q + 5] == ' ' || src[q + 5] == '\t')) {
				size_t le = line_end(&p, q);
				slice r = skip_spaces((slice){ src + q + 5,
					le - q - 5 });
				size_t k = ident_len(r);

				if (k) {
					if (n == cap) {
						size_t nc = cap ? 2 * cap : 8;
						void *g = realloc(e, nc * sizeof *e);

						if (!g) {
							free(e);
							return TSL_ENOMEM;
						}
						e = g;
						cap = nc;
					}
					e[n] = (struct tsl_class_file_entry){
						r.p, k, q, len, false, false };
					cur = n++;
				}
			}
		} else if (cur != SIZE_MAX) {
			int d = dunder_def(src, len, q);

			if (d == 1)
				e[cur].get = true;
			else if (d == 2)
				e[cur].set = true;
		}
		nl = memchr(src + q, '\n', len - q);
		if (!nl)
			break;
		q = (size_t)(nl - src) + 1;
	}
	if (n > 1)
		qsort(e, n, sizeof *e, cf_cmp);
	out->e = e;
	out->n = n;
	return TSL_OK;
}

void tsl__class_file_free(tsl_class_file *cf)
{
	free(cf->e);
	cf->e = NULL;
	cf->n = 0;
}

int tsl__class_header_parse_in(tsl_class_info **out, const tsl_class_file *cf,
	const char *src, size_t len, const char *class_name, tsl_arena *arena,
	const char *record, uint64_t base_offset, bool lazy, tsl_error *err)
{
	parser p = { .s = src, .len = len, .arena = arena, .record = record,
		.base = base_offset, .err = err, .lazy = lazy };
	struct tsl_class_file_entry key;
	const struct tsl_class_file_entry *e;
	size_t lo = 0, hi, le;
	tsl_class_kind kind = TSL_CLASS_MODULE;
	slice name;
	const char *dot;
	int rc;

	if (out)
		*out = NULL;
	if (!out || !cf || (!src && len) || !class_name || !arena)
		return tsl__error(err, TSL_EINVAL, record, TSL_NO_OFFSET,
			"class_header_parse: bad argument");
	dot = strrchr(class_name, '.');
	key.name = dot ? dot + 1 : class_name;
	key.name_len = strlen(key.name);
	key.start = 0;
	if (!key.name_len)
		return tsl__error(err, TSL_EINVAL, record, TSL_NO_OFFSET,
			"class_header_parse: empty class name");
	if (dot)
		p.self_type = class_name;
	for (hi = cf->n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (cf_cmp(&cf->e[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	e = lo < cf->n ? &cf->e[lo] : NULL;
	if (!e || e->name_len != key.name_len ||
		memcmp(e->name, key.name, key.name_len) != 0)
		return tsl__error(err, TSL_ENOTFOUND, record, TSL_NO_OFFSET,
			"no class %s in the code file", key.name);
	/* as header_parse: the class line first, then a second class of
	 * the name */
	le = line_end(&p, e->start);
	if ((rc = class_line(&p, e->start, (slice){ src + e->start + 5,
		le - e->start - 5 }, &name, &kind)) != TSL_OK)
		return rc;
	if (lo + 1 < cf->n && e[1].name_len == e->name_len &&
		memcmp(e[1].name, e->name, e->name_len) == 0)
		return perr(&p, e[1].start, "class %s defined twice", key.name);
	p.has_getstate = e->get;
	p.has_setstate = e->set;
	return parse_class(&p, e->start, e->end, name, kind, out);
}

int tsl__class_header_parse(tsl_class_info **out, const char *src,
	size_t len, const char *class_name, tsl_arena *arena,
	const char *record, uint64_t base_offset, tsl_error *err)
{
	return header_parse(out, src, len, class_name, arena, record,
		base_offset, false, err);
}

int tsl__class_header_parse_lazy(tsl_class_info **out, const char *src,
	size_t len, const char *class_name, tsl_arena *arena,
	const char *record, uint64_t base_offset, tsl_error *err)
{
	return header_parse(out, src, len, class_name, arena, record,
		base_offset, true, err);
}

int tsl__code_functions(tsl_class_method **out, size_t *count,
	const char *src, size_t len, tsl_arena *arena, const char *record,
	uint64_t base_offset, tsl_error *err)
{
	parser p = { .s = src, .len = len, .arena = arena, .record = record,
		.base = base_offset, .err = err };
	size_t q, n = 0, k = 0;
	tsl_class_method *fns = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!out || !count || (!src && len) || !arena)
		return tsl__error(err, TSL_EINVAL, record, TSL_NO_OFFSET,
			"code_functions: bad argument");
	for (int pass = 0; pass < 2; pass++) {
		q = 0;
		while (q < len) {
			size_t le = line_end(&p, q);
			slice t = { src + q, le - q };

			if (starts(t, "def ") || starts(t, "def\t")) {
				size_t e = top_extent(&p, q);

				if (pass) {
					if (k >= n)
						return perr(&p, q, "internal count mismatch");
					if ((rc = parse_def(&p, q, 0, e, &fns[k])) !=
						TSL_OK)
						return rc;
				}
				k++;
				q = e;
				continue;
			}
			q = le < len ? le + 1 : le;
		}
		if (!pass) {
			n = k;
			k = 0;
			if (!n)
				return TSL_OK;
			fns = tsl__arena_calloc(arena, n, sizeof *fns);
			if (!fns)
				return nomem(&p, 0);
		}
	}
	*out = fns;
	*count = n;
	return TSL_OK;
}

const char *tsl__class_kind_name(tsl_class_kind kind)
{
	switch (kind) {
	case TSL_CLASS_MODULE:
		return "module";
	case TSL_CLASS_PLAIN:
		return "class";
	case TSL_CLASS_NAMEDTUPLE:
		return "namedtuple";
	case TSL_CLASS_ENUM:
		return "enum";
	case TSL_CLASS_INTERFACE:
		return "interface";
	case TSL_CLASS_MODULE_INTERFACE:
		return "module interface";
	}
	return "unknown";
}
