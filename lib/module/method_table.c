/*
 * method_table.c - the sorted method table of a class (model.c) or of a
 * legacy module (legacy.c): one builder for both.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"

struct msort {
	tsl_method m;
	const tsl_class_method *src;
};

static int cmp_msort(const void *a, const void *b)
{
	return strcmp(((const struct msort *)a)->m.name,
		((const struct msort *)b)->m.name);
}

int tsl__method_table(tsl_arena *arena, const tsl_class_method *fns,
	size_t nfns, const char *self_type, const char *record,
	tsl_method **out, const tsl_class_method ***out_src, size_t *count,
	tsl_error *err)
{
	tsl_method *methods;
	const tsl_class_method **msrc;
	size_t i, n = 0, j;

	for (i = 0; i < nfns; i++)
		if (!fns[i].is_forward_hook && !fns[i].is_forward_pre_hook)
			n++;
	methods = tsl__arena_calloc(arena, n ? n : 1, sizeof *methods);
	msrc = tsl__arena_calloc(arena, n ? n : 1, sizeof *msrc);
	if (!methods || !msrc)
		return tsl__arena_error(arena, err, record, TSL_NO_OFFSET);
	for (i = 0, j = 0; i < nfns; i++) {
		const tsl_class_method *cm = &fns[i];
		tsl_method *mm;
		const char **names, **types, **rets;

		if (cm->is_forward_hook || cm->is_forward_pre_hook)
			continue;
		mm = &methods[j];
		names = tsl__arena_calloc(arena, cm->nargs + 1, sizeof *names);
		types = tsl__arena_calloc(arena, cm->nargs + 1, sizeof *types);
		rets = tsl__arena_calloc(arena, 1, sizeof *rets);
		if (!names || !types || !rets)
			return tsl__arena_error(arena, err, record,
				TSL_NO_OFFSET);
		for (size_t a = 0; a < cm->nargs; a++) {
			names[a] = cm->args[a].name;
			/* an unannotated self is NULL in the parse */
			types[a] = cm->args[a].type ? cm->args[a].type :
				self_type;
		}
		/* no annotation: TorchScript infers; NoneType is what an
		 * unannotated method without return value gets */
		rets[0] = cm->return_type ? cm->return_type : "NoneType";
		mm->name = cm->name;
		mm->nargs = cm->nargs;
		mm->arg_names = names;
		mm->arg_types = types;
		mm->nreturns = 1;
		mm->return_types = rets;
		msrc[j++] = cm;
	}
	/* sort methods and their sources together */
	if (n > 1) {
		struct msort *v = malloc(n * sizeof *v);

		if (!v)
			return tsl__error(err, TSL_ENOMEM, record, TSL_NO_OFFSET,
				"out of memory");
		for (i = 0; i < n; i++) {
			v[i].m = methods[i];
			v[i].src = msrc[i];
		}
		qsort(v, n, sizeof *v, cmp_msort);
		for (i = 0; i < n; i++) {
			methods[i] = v[i].m;
			msrc[i] = v[i].src;
		}
		free(v);
	}
	*out = methods;
	*out_src = msrc;
	*count = n;
	return TSL_OK;
}
