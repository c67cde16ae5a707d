/*
 * class_cache.c - the classes of a model, by qualified name: each header
 * found under code/ and parsed once (up to its first def at load time),
 * and each class's method table, parsed and built on first use under the
 * model's lock and shared by all its modules.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "model.h"

/* ---- class headers ---------------------------------------------------- */

/* "__torch__.a.b.C" -> "code/__torch__/a/b.py", in buf when it fits (cap
 * bytes), else in new memory (a package name of any length: libtorch
 * loads them): *out is buf or that memory (free it when != buf).  1 for a
 * name without a dot, TSL_ENOMEM. */
static int class_file(char *buf, size_t cap, const char *qname, char **out)
{
	const char *dot = strrchr(qname, '.');
	size_t n, i;

	*out = buf;
	if (!dot)
		return 1;
	n = (size_t)(dot - qname);
	if (n + 9 > cap && !(*out = buf = malloc(n + 9)))
		return TSL_ENOMEM;
	memcpy(buf, "code/", 5);
	for (i = 0; i < n; i++)
		buf[5 + i] = qname[i] == '.' ? '/' : qname[i];
	memcpy(buf + 5 + n, ".py", 4);
	return 0;
}

/* ---- code files of several classes -------------------------------------- */

/* A code file that holds more than one class (a scripted package's
 * classes share one): its bytes, kept (the archive's cached copy, or the
 * mapping), and its classes found once.  Each class of it was a scan of
 * the whole file, and a decode when it is compressed: 20,000 classes in
 * one file took 13.5 s (a deflated one 25 s), libtorch 3.3 s. */
struct code_file {
	const char *path;          /* in the arena */
	tsl_record r;
	tsl_class_file cf;
	struct code_file *next;
};

static void *path_key(const char *path, size_t len)
{
	return (void *)(uintptr_t)(XXH3_64bits(path, len) | 1);
}

static struct code_file *code_file_find(struct tsl_model *m, const char *path)
{
	size_t len = strlen(path), v;
	struct code_file *f;

	if (!m->code_files)
		return NULL;
	v = tsl__pmap_get(&m->code_map, path_key(path, len));
	f = v == SIZE_MAX ? NULL : (struct code_file *)(uintptr_t)v;
	return f && strcmp(f->path, path) == 0 ? f : NULL;
}

/* Keep r (persistent bytes) and cf (taken) for path; NULL when it cannot
 * be kept (out of memory, or another path with its hash: then it is parsed
 * as a file of one class would be, every time). */
static struct code_file *code_file_add(struct tsl_model *m, const char *path,
	const tsl_record *r, tsl_class_file *cf)
{
	size_t len = strlen(path);
	struct code_file *f;
	char *p;
	int put;

	f = tsl__arena_alloc(&m->arena, sizeof *f);
	p = tsl__arena_alloc(&m->arena, len + 1);
	if (!f || !p)
		return NULL;
	memcpy(p, path, len + 1);
	f->path = p;
	f->r = *r;
	f->cf = *cf;
	put = tsl__pmap_put(&m->code_map, path_key(path, len),
		(size_t)(uintptr_t)f);
	if (put)
		return NULL;
	f->next = m->code_files;
	m->code_files = f;
	cf->e = NULL;   /* taken */
	cf->n = 0;
	return f;
}

void tsl__code_files_free(struct tsl_model *m)
{
	for (struct code_file *f = m->code_files; f; f = f->next)
		tsl__class_file_free(&f->cf);
	m->code_files = NULL;
	tsl__pmap_free(&m->code_map);
}

/* The lazy header of class qname from code file `file` (not found: the
 * record is not there, TSL_ENOTFOUND).  *r, *cfile: where its source is,
 * when it stays (a stored record, a file of several classes); r->data
 * NULL when the source was decoded for this parse and dropped. */
static int class_from_file(struct tsl_model *m, const char *file,
	const char *qname, tsl_class_info **ci, tsl_record *r,
	const tsl_class_file **cfile, tsl_error *err)
{
	struct code_file *f = code_file_find(m, file);
	tsl_class_file cf;
	void *owned = NULL;
	int rc;

	*cfile = NULL;
	if (f) {
		*r = f->r;
		*cfile = &f->cf;
		return tsl__class_header_parse_in(ci, &f->cf, (const char *)
			r->data, r->len, qname, &m->arena, r->name,
			r->file_offset, true, err);
	}
	/* the header is copied out of the source (into the arena): a
	 * compressed source is decoded for the parse and dropped (a
	 * ModuleList's 10,000 annotations are 870 KB), and read again,
	 * cached, when the methods are first asked for */
	rc = tsl__archive_record_transient(m->ar, file, strlen(file), r,
		&owned, err);
	if (rc)
		return rc;
	if (tsl__class_file_index(&cf, (const char *)r->data, r->len)) {
		rc = tsl__error(err, TSL_ENOMEM, r->name, TSL_NO_OFFSET,
			"out of memory");
		goto drop;
	}
	if (cf.n > 1) {
		/* several classes: their bytes stay, cached by the archive
		 * when they were decoded */
		tsl_record kept = *r;

		if (owned) {
			/* the index points into the bytes: made again on the
			 * copy that stays */
			tsl__class_file_free(&cf);
			tsl__archive_record_drop(m->ar, file, strlen(file),
				owned);
			owned = NULL;
			r->data = NULL;
			rc = tsl__archive_record(m->ar, file, strlen(file),
				&kept, err);
			if (rc)
				return rc;
			if (tsl__class_file_index(&cf, (const char *)kept.data,
				kept.len))
				return tsl__error(err, TSL_ENOMEM, kept.name,
					TSL_NO_OFFSET, "out of memory");
		}
		*r = kept;
		if ((f = code_file_add(m, file, r, &cf)) != NULL) {
			*cfile = &f->cf;
			return tsl__class_header_parse_in(ci, &f->cf,
				(const char *)r->data, r->len, qname,
				&m->arena, r->name, r->file_offset, true, err);
		}
	}
	rc = tsl__class_header_parse_in(ci, &cf, (const char *)r->data,
		r->len, qname, &m->arena, r->name, r->file_offset, true, err);
	tsl__class_file_free(&cf);
drop:
	if (owned) {
		tsl__archive_record_drop(m->ar, file, strlen(file), owned);
		r->data = NULL;
		if (*ci) {
			(*ci)->src = NULL;
			(*ci)->src_len = 0;
		}
	}
	return rc;
}

static int cls_grow(struct tsl_model *m)
{
	size_t cap = m->cls_table ? (m->cls_mask + 1) * 2 : 64, i;
	struct cls_slot **t = calloc(cap, sizeof *t);

	if (!t)
		return TSL_ENOMEM;
	for (i = 0; m->cls_table && i <= m->cls_mask; i++) {
		size_t h;

		if (!m->cls_table[i])
			continue;
		h = (size_t)XXH3_64bits(m->cls_table[i]->qname,
			strlen(m->cls_table[i]->qname)) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = m->cls_table[i];
	}
	free(m->cls_table);
	m->cls_table = t;
	m->cls_mask = cap - 1;
	return TSL_OK;
}

/* The class record for a qualified name; its header is parsed once.
 * (*out)->info is NULL when the archive has no source for the class
 * (torchbind classes, missing files).  The pickle machine shares one type
 * string per class, so the pointer is checked first. */
int tsl__class_get(struct tsl_model *m, const char *qname,
	struct cls_slot **out, tsl_error *err)
{
	char fbuf[1024], *file = fbuf;
	size_t h, len;
	tsl_record r = { NULL, 0, NULL, TSL_NO_OFFSET };
	tsl_class_info *ci = NULL;
	const tsl_class_file *cfile = NULL;
	struct cls_slot *slot;
	int rc;

	if (m->cls_last && m->cls_last->qname == qname) {
		*out = m->cls_last;
		return TSL_OK;
	}
	len = strlen(qname);
	if (m->cls_table) {
		h = (size_t)XXH3_64bits(qname, len) & m->cls_mask;
		while (m->cls_table[h]) {
			if (strcmp(m->cls_table[h]->qname, qname) == 0) {
				*out = m->cls_last = m->cls_table[h];
				return TSL_OK;
			}
			h = (h + 1) & m->cls_mask;
		}
	}
	if (strncmp(qname, "__torch__.torch.classes.", 24) != 0 &&
		(rc = class_file(fbuf, sizeof fbuf, qname, &file)) != 1) {
		if (rc)
			return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
				"out of memory");
		/* methods are parsed when first asked for */
		rc = class_from_file(m, file, qname, &ci, &r, &cfile, err);
		if (file != fbuf)
			free(file);
		if (rc && rc != TSL_ENOTFOUND)
			return rc;
		if (rc)
			r.name = NULL;
	}
	slot = tsl__arena_alloc(&m->arena, sizeof *slot);
	if (!slot)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	slot->qname = qname;
	slot->info = ci;
	slot->cfile = cfile;
	if (ci && r.name) {
		slot->src = (const char *)r.data;   /* NULL: read it again */
		slot->src_len = r.len;
		slot->record = r.name;
		slot->src_off = r.file_offset;
	}
	if (m->cls_count * 2 >= (m->cls_table ? m->cls_mask + 1 : 0) &&
		cls_grow(m))
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	h = (size_t)XXH3_64bits(qname, len) & m->cls_mask;
	while (m->cls_table[h])
		h = (h + 1) & m->cls_mask;
	m->cls_table[h] = slot;
	m->cls_count++;
	*out = m->cls_last = slot;
	return TSL_OK;
}

/* The class's sorted method table (slot->methods, msrc, nmethods), shared
 * by all its modules.  The caller publishes methods_built. */
static int build_methods(struct tsl_model *m, struct cls_slot *slot,
	tsl_error *err)
{
	return tsl__method_table(&m->arena, slot->info->methods,
		slot->info->nmethods, slot->qname, NULL, &slot->methods,
		&slot->msrc, &slot->nmethods, err);
}

/* Parse a class's methods (the header was parsed lazily) and build its
 * sorted method table.  Called with the model's lock held. */
static int load_methods(struct tsl_model *m, struct cls_slot *slot,
	tsl_error *err)
{
	tsl_class_info *full = NULL;
	int rc;

	if (slot->info && slot->info->lazy_methods) {
		if (!slot->src) {
			/* dropped after the header's parse: now cached, as
			 * the methods point into it */
			char fbuf[1024], *file;
			tsl_record r;

			rc = class_file(fbuf, sizeof fbuf, slot->qname, &file);
			if (rc)
				return tsl__error(err, rc == 1 ? TSL_EFORMAT :
					TSL_ENOMEM, slot->record, TSL_NO_OFFSET,
					rc == 1 ? "class name without a module" :
					"out of memory");
			rc = tsl__archive_record(m->ar, file, strlen(file),
				&r, err);
			if (file != fbuf)
				free(file);
			if (rc == TSL_ENOTFOUND)
				rc = tsl__error(err, TSL_EFORMAT, slot->record,
					TSL_NO_OFFSET, "class source vanished");
			if (rc)
				return rc;
			slot->src = (const char *)r.data;
			slot->src_len = r.len;
		}
		rc = slot->cfile ? tsl__class_header_parse_in(&full,
			slot->cfile, slot->src, slot->src_len, slot->qname,
			&m->arena, slot->record, slot->src_off, false, err) :
			tsl__class_header_parse(&full, slot->src, slot->src_len,
			slot->qname, &m->arena, slot->record, slot->src_off, err);
		if (rc)
			return rc;
		slot->info = full;
	}
	return build_methods(m, slot, err);
}

int tsl__module_methods(const struct tsl_module *mod, tsl_error *err)
{
	struct cls_slot *slot = mod->slot;
	struct tsl_model *m;
	int rc;

	if (!slot)
		return TSL_OK;   /* legacy: its own table, made at load */
	m = slot->model;
	if (!atomic_load_explicit(&slot->methods_built,
		memory_order_acquire)) {
		pthread_mutex_lock(&m->storages.sync.mu);
		if (!atomic_load_explicit(&slot->methods_built,
			memory_order_relaxed) && !slot->methods_rc) {
			tsl_error e;

			rc = load_methods(m, slot, &e);
			if (rc) {
				slot->methods_rc = rc;
				slot->methods_err = tsl__arena_alloc(&m->arena,
					sizeof e);
				if (slot->methods_err)
					*slot->methods_err = e;
			} else {
				atomic_store_explicit(
					&slot->methods_built, true,
					memory_order_release);
			}
		}
		rc = slot->methods_rc;
		pthread_mutex_unlock(&m->storages.sync.mu);
		if (rc) {
			if (err && slot->methods_err)
				*err = *slot->methods_err;
			else
				tsl__error(err, rc, slot->record, TSL_NO_OFFSET,
					"the methods of %s could not be read",
					slot->qname);
			return rc;
		}
	}
	return TSL_OK;   /* read through tsl__module_method_table */
}

void tsl__module_method_table(const struct tsl_module *mod,
	tsl_method **methods, const tsl_class_method ***msrc, size_t *n)
{
	/* the class's shared table once built (never written after), or
	 * the module's own (legacy archives) */
	const struct cls_slot *slot = mod->slot;
	const struct tsl_legacy_module *lm = slot ? NULL :
		tsl__legacy_module(mod);

	*methods = slot ? slot->methods : lm->methods;
	*msrc = slot ? slot->msrc : lm->msrc;
	*n = slot ? slot->nmethods : lm->nmethods;
}
