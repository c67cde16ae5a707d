/*
 * fuzz_class_header.c - libFuzzer target for the class-header parser
 * (lib/module/class_header.c): the code/ files of an archive, untrusted.
 *
 * Input: one selector byte, the class name up to the first '\n' (at most
 * 200 bytes), then the source.  Bit 0 of the selector: parse lazily (as a
 * load does: methods left for later, then parsed in full as the first
 * tsl_module_method* call does); clear: the full parse.  Bit 1: a small
 * max_meta_bytes (the arena limit path).  Every parse also lists the file's
 * top-level functions (tsl__code_functions).  A success is walked: every
 * string is read, every count matches; a failure must carry a message.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "module/class_header.h"
#include "fuzz_common.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

static volatile size_t sink;

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

static void walk_method(const tsl_class_method *m, const char *src,
	size_t len)
{
	FUZZ_CHECK(m->name != NULL);
	touch(m->name);
	touch(m->return_type);
	FUZZ_CHECK(m->src >= src && m->src + m->src_len <= src + len);
	FUZZ_CHECK(m->nargs == 0 || m->args != NULL);
	for (size_t i = 0; i < m->nargs; i++) {
		FUZZ_CHECK(m->args[i].name != NULL);
		touch(m->args[i].name);
		touch(m->args[i].type);
		touch(m->args[i].default_text);
	}
}

static void walk(const tsl_class_info *ci, const char *src, size_t len)
{
	FUZZ_CHECK(ci->name != NULL);
	touch(ci->name);
	FUZZ_CHECK(ci->src >= src && ci->src + ci->src_len <= src + len);
	FUZZ_CHECK(ci->nattrs == 0 || ci->attrs != NULL);
	for (size_t i = 0; i < ci->nattrs; i++) {
		FUZZ_CHECK(ci->attrs[i].name && ci->attrs[i].type);
		touch(ci->attrs[i].name);
		touch(ci->attrs[i].type);
		touch(tsl__class_attr_default(ci, i));
		/* the flags are read (ASan: inside the class's array) */
		(void)tsl__class_attr_is_parameter(ci, i);
		(void)tsl__class_attr_is_buffer(ci, i);
	}
	for (size_t i = 0; i < ci->nconsts; i++) {
		touch(ci->consts[i].name);
		touch(ci->consts[i].type);
		touch(ci->consts[i].value_text);
	}
	for (size_t i = 0; i < ci->nparameters; i++)
		touch(ci->parameters[i]);
	for (size_t i = 0; i < ci->nbuffers; i++)
		touch(ci->buffers[i]);
	for (size_t i = 0; i < ci->nforward_hooks; i++)
		touch(ci->forward_hooks[i]);
	for (size_t i = 0; i < ci->nforward_pre_hooks; i++)
		touch(ci->forward_pre_hooks[i]);
	for (size_t i = 0; i < ci->nenum_members; i++) {
		touch(ci->enum_members[i].name);
		touch(ci->enum_members[i].value_text);
	}
	for (size_t i = 0; i < ci->nmethods; i++)
		walk_method(&ci->methods[i], src, len);
	if (ci->lazy_methods) {
		FUZZ_CHECK(ci->nmethods == 0);
		FUZZ_CHECK(ci->methods_offset <= len);
	}
}

/* The class from the file's index (tsl__class_file_index kept, as
 * class_cache.c keeps it for a file of several classes) comes out as from
 * tsl__class_header_parse(_lazy), which index the file afresh: the same
 * status, message and offset, or the same header.  In an arena of its own
 * with the same limit, so that the limit falls alike. */
static void same_from_index(const char *src, size_t len, const char *name,
	unsigned sel, int rc, const tsl_class_info *ci, const tsl_error *err)
{
	tsl_class_file cf;
	tsl_class_info *ix = NULL;
	tsl_arena a2;
	tsl_error e2;
	int r2;

	if (tsl__class_file_index(&cf, src, len) != TSL_OK)
		return;   /* out of memory */
	tsl__arena_init(&a2, (sel & 2) ? 4096 : 64u << 20);
	memset(&e2, 0, sizeof e2);
	r2 = tsl__class_header_parse_in(&ix, &cf, src, len, name, &a2,
		"code/fuzz.py", 0, (sel & 1) != 0, &e2);
	FUZZ_CHECK(r2 == rc);
	if (rc == TSL_OK) {
		FUZZ_CHECK(ix != NULL && ix->kind == ci->kind);
		FUZZ_CHECK(!strcmp(ix->name, ci->name));
		FUZZ_CHECK(ix->offset == ci->offset);
		FUZZ_CHECK(ix->src_len == ci->src_len);
		FUZZ_CHECK(ix->nattrs == ci->nattrs);
		FUZZ_CHECK(ix->nmethods == ci->nmethods);
		FUZZ_CHECK(ix->has_getstate == ci->has_getstate);
		FUZZ_CHECK(ix->has_setstate == ci->has_setstate);
		FUZZ_CHECK(ix->lazy_methods == ci->lazy_methods);
		FUZZ_CHECK(ix->methods_offset == ci->methods_offset);
	} else {
		FUZZ_CHECK(ix == NULL);
		FUZZ_CHECK(!strcmp(e2.message, err->message));
		FUZZ_CHECK(e2.offset == err->offset);
	}
	tsl__arena_free(&a2);
	tsl__class_file_free(&cf);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	char name[201];
	const char *src, *nl;
	size_t nlen, len;
	unsigned sel;
	tsl_arena arena;
	tsl_class_info *ci = NULL, *full = NULL;
	tsl_class_method *fns = NULL;
	size_t nfns = 0;
	tsl_error err;
	int rc;

	if (size < 1)
		return 0;
	sel = data[0];
	src = (const char *)data + 1;
	len = size - 1;
	nl = memchr(src, '\n', len < sizeof name ? len : sizeof name);
	if (!nl)
		return 0;
	nlen = (size_t)(nl - src);
	memcpy(name, src, nlen);
	name[nlen] = '\0';
	src = nl + 1;
	len -= nlen + 1;

	tsl__arena_init(&arena, (sel & 2) ? 4096 : 64u << 20);
	memset(&err, 0, sizeof err);
	if (sel & 1)
		rc = tsl__class_header_parse_lazy(&ci, src, len, name, &arena,
			"code/fuzz.py", 0, &err);
	else
		rc = tsl__class_header_parse(&ci, src, len, name, &arena,
			"code/fuzz.py", 0, &err);
	same_from_index(src, len, name, sel, rc, ci, &err);
	if (rc == TSL_OK) {
		FUZZ_CHECK(ci != NULL);
		walk(ci, src, len);
		if (ci->lazy_methods) {
			/* what a first tsl_module_method* call does */
			memset(&err, 0, sizeof err);
			rc = tsl__class_header_parse(&full, src, len, name,
				&arena, "code/fuzz.py", 0, &err);
			if (rc == TSL_OK) {
				walk(full, src, len);
				/* the slots do not change with the methods */
				FUZZ_CHECK(full->nattrs == ci->nattrs);
				FUZZ_CHECK(full->kind == ci->kind);
				for (size_t i = 0; i < ci->nattrs; i++)
					FUZZ_CHECK(!strcmp(full->attrs[i].name,
						ci->attrs[i].name));
			} else {
				FUZZ_CHECK_FAIL(rc, err);
			}
		}
	} else {
		FUZZ_CHECK(ci == NULL);
		FUZZ_CHECK_FAIL(rc, err);
	}
	memset(&err, 0, sizeof err);
	rc = tsl__code_functions(&fns, &nfns, src, len, &arena,
		"code/fuzz.py", 0, &err);
	if (rc == TSL_OK) {
		for (size_t i = 0; i < nfns; i++)
			walk_method(&fns[i], src, len);
	} else {
		FUZZ_CHECK_FAIL(rc, err);
	}
	tsl__arena_free(&arena);
	return 0;
}
