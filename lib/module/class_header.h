/*
 * class_header.h - read class headers and signatures from the TorchScript
 * source files under code/ (FORMAT.md section 6), without compiling code.
 *
 * Input is the bytes of one code file: any bytes, not NUL-terminated,
 * possibly hostile.  The parser is line oriented, linear in the input size,
 * never reads outside [src, src + len), and allocates only from the arena.
 *
 * What it reads, per class:
 *   class Name(Module|NamedTuple|Enum|Interface|ModuleInterface):  or  class Name:
 *     __parameters__ = ["w", "b", ]          parameter names
 *     __buffers__ = ["running_mean", ]       buffer names (absent in old files)
 *     __forward_pre_hooks__ = ["h", ]        hook names (may repeat)
 *     __forward_hooks__ = ["h", ]
 *     name : Type                            a slot (attribute), in slot order
 *     __annotations__["0"] = Type            a slot whose name is not an identifier
 *     name : Final[T] = literal              a constant (not a slot)
 *     NAME = value                           an enum member (Enum classes)
 *     def m(self: Q,\n    x: T=default) -> R:   a method, then its body
 * and, for a whole file, the top-level `def`s (saved functions; legacy 1.0-1.2
 * files hold a module's methods as top-level `def forward(self, ...)`).
 *
 * Type text is the annotation as written, normalised to libtorch's
 * annotation_str() spelling: a whole-word `None` reads `NoneType` (older
 * writers and top-level functions print `-> None`, a few old files print
 * `proj : None`), and `Tuple[]` reads `Tuple[()]`.  Nothing else is changed:
 * qualified names (with their ___torch_mangle_N parts) are kept, and the
 * quantized `_packed_params : Tensor` re-typing of FORMAT.md 6.3 is left to
 * the caller.
 *
 * Ownership: every string and array in the results is allocated from the
 * arena passed in (NUL-terminated strings; a few are static constants) and
 * lives until the arena is freed, except tsl_class_method.src and
 * tsl_class_info.src, which point into the caller's input buffer (pointer +
 * length, not NUL-terminated): the input must outlive their use.  Nothing
 * refers to class_name after the call returns.
 *
 * Errors: TSL_EFORMAT for malformed text.  err->record is `record` and the
 * message starts with "line N:".  err->offset is base_offset + the byte
 * offset in the code file (pass the file offset of the record's data when it
 * is stored uncompressed), or TSL_NO_OFFSET when base_offset is TSL_NO_OFFSET.
 * TSL_ENOMEM / TSL_ELIMIT when the arena fails.  TSL_EINVAL for bad
 * arguments.  On failure *out is NULL and whatever was allocated stays in the
 * arena (freed with it).
 *
 * Thread-safety: reentrant; the arena must not be shared between threads.
 */
#ifndef TSL_CLASS_HEADER_H
#define TSL_CLASS_HEADER_H

#include "../common/common.h"

typedef enum tsl_class_kind {
	TSL_CLASS_MODULE = 0,         /* class X(Module): */
	TSL_CLASS_PLAIN = 1,          /* class X: (a TorchScript class) */
	TSL_CLASS_NAMEDTUPLE = 2,     /* class X(NamedTuple): */
	TSL_CLASS_ENUM = 3,           /* class X(Enum): */
	TSL_CLASS_INTERFACE = 4,      /* class X(Interface): */
	TSL_CLASS_MODULE_INTERFACE = 5 /* class X(ModuleInterface): */
} tsl_class_kind;

/* A slot: `name : Type` or `__annotations__["name"] = Type`; for a
 * NamedTuple, a field (`name : Type` optionally followed by `= default`).
 * 16 bytes: a ModuleList of 10,000 modules has 10,000 of them; whether it
 * is a parameter or a buffer, and a field's default, are beside them in
 * the class (tsl__class_attr_is_parameter and the others below). */
typedef struct tsl_class_attr {
	const char *name;
	const char *type;         /* normalised annotation text */
} tsl_class_attr;

_Static_assert(sizeof(tsl_class_attr) == 16, "tsl_class_attr grew");

/* tsl_class_info.attr_flags bits */
enum {
	TSL_CLASS_ATTR_PARAMETER = 1,  /* listed in __parameters__ */
	TSL_CLASS_ATTR_BUFFER = 2      /* listed in __buffers__ */
};

/* A constant: `name : Final[T] = literal`. */
typedef struct tsl_class_const {
	const char *name;
	const char *type;         /* T, normalised ("int", "Tuple[int, int]") */
	const char *value_text;   /* the literal as written: `3`, `0.`, `"zeros"`,
	                             `(1, 1)`, `1.0000000000000001e-05`, `None` */
} tsl_class_const;

/* An enum member: `NAME = value`.  The value is an int, a float or a
 * double-quoted string.  NOTE: the writer does not escape string values, so
 * value_text is the rest of the line as written (quotes included). */
typedef struct tsl_class_enum_member {
	const char *name;
	const char *value_text;
} tsl_class_enum_member;

typedef struct tsl_class_arg {
	const char *name;
	/* Normalised annotation.  When the argument has none: the first argument
	 * named `self` gets the qualified class name passed to
	 * tsl__class_header_parse (NULL when only an unqualified name was given,
	 * and for a top-level function); any other argument gets "Tensor", as
	 * TorchScript does. */
	const char *type;
	const char *default_text; /* as written after '=' (`None`, `"a,b)]"`,
	                             `(1, 2)`, `__torch__.Name.A`), or NULL */
	bool annotated;           /* the source had `: Type` */
} tsl_class_arg;

typedef struct tsl_class_method {
	const char *name;
	tsl_class_arg *args;      /* args[0] is self for methods */
	size_t nargs;
	const char *return_type;  /* normalised (`-> None` reads "NoneType");
	                             NULL when the source has no `->` */
	/* The whole def: from the start of the `def` line (indentation included)
	 * to the start of the next statement at the same or lower indentation
	 * (trailing blank lines included).  Points into the input. */
	const char *src;
	size_t src_len;
	uint64_t offset;          /* byte offset of the def line in the file */
	bool is_forward_hook;     /* named in __forward_hooks__ */
	bool is_forward_pre_hook; /* named in __forward_pre_hooks__ */
} tsl_class_method;

typedef struct tsl_class_info {
	const char *name;         /* the unqualified name from the class line */
	tsl_class_kind kind;
	uint64_t offset;          /* byte offset of the class line in the file */
	const char *src;          /* the class line and body; points into input */
	size_t src_len;

	const char **parameters;  /* __parameters__, in order */
	size_t nparameters;
	bool has_parameters_line;
	const char **buffers;     /* __buffers__, in order */
	size_t nbuffers;
	bool has_buffers_line;    /* false in files older than ~1.8 */
	const char **forward_pre_hooks; /* as listed (a name may repeat) */
	size_t nforward_pre_hooks;
	const char **forward_hooks;
	size_t nforward_hooks;

	tsl_class_attr *attrs;    /* slots in slot order (NamedTuple: fields) */
	size_t nattrs;
	uint8_t *attr_flags;      /* TSL_CLASS_ATTR_* by attribute; NULL when
	                             no attribute is a parameter or buffer */
	const char **attr_defaults; /* NamedTuple field defaults as written
	                             (NULL: none), by attribute; NULL when no
	                             field has one */
	tsl_class_const *consts;  /* Final constants, in file order */
	size_t nconsts;
	tsl_class_method *methods;/* methods then hooks, in file order; hook
	                             functions are flagged, libtorch does not list
	                             them among the methods */
	size_t nmethods;
	tsl_class_enum_member *enum_members;
	size_t nenum_members;

	bool has_getstate;        /* a method named __getstate__ */
	bool has_setstate;        /* a method named __setstate__ */
	bool lazy_methods;        /* parsed by tsl__class_header_parse_lazy:
	                             methods (from methods_offset on) are not
	                             parsed; nmethods is 0 */
	size_t methods_offset;
} tsl_class_info;

static inline bool tsl__class_attr_is_parameter(const tsl_class_info *ci,
	size_t i)
{
	return ci->attr_flags && (ci->attr_flags[i] & TSL_CLASS_ATTR_PARAMETER);
}

static inline bool tsl__class_attr_is_buffer(const tsl_class_info *ci,
	size_t i)
{
	return ci->attr_flags && (ci->attr_flags[i] & TSL_CLASS_ATTR_BUFFER);
}

static inline const char *tsl__class_attr_default(const tsl_class_info *ci,
	size_t i)
{
	return ci->attr_defaults ? ci->attr_defaults[i] : NULL;
}

/**
 * Find and parse one class of a code file.
 *
 * @param[out] out   receives the class (arena memory); NULL on failure
 * @param src, len   the file's bytes
 * @param class_name the class's name: either unqualified ("Linear") or
 *                   qualified ("__torch__.torch.nn.modules.linear.Linear");
 *                   the last dot-separated part is looked up.  A qualified
 *                   name also types an unannotated `self` (interfaces and
 *                   legacy files do not annotate it).
 * @param arena      where results are allocated
 * @param record     the record name for error reports (may be NULL)
 * @param base_offset added to byte offsets in errors; TSL_NO_OFFSET for none
 * @param[out] err   optional
 * @return TSL_OK, TSL_ENOTFOUND (no such class in the file), TSL_EFORMAT,
 *         TSL_ENOMEM, TSL_ELIMIT, TSL_EINVAL.  Only the class asked for is
 *         checked; text elsewhere in the file is not.  A second class of the
 *         same name is TSL_EFORMAT.
 */
TSL_INTERNAL int tsl__class_header_parse(tsl_class_info **out,
	const char *src, size_t len, const char *class_name, tsl_arena *arena,
	const char *record, uint64_t base_offset, tsl_error *err);

/**
 * As tsl__class_header_parse, but a class's methods and hooks (everything
 * from its first `def`) are not parsed: `lazy_methods` is set, nmethods is
 * 0, and has_getstate / has_setstate come from a scan for those two defs.
 * Parse the same text with tsl__class_header_parse to get the methods.
 * Used at load time, where only the header lines are needed.
 */
TSL_INTERNAL int tsl__class_header_parse_lazy(tsl_class_info **out,
	const char *src, size_t len, const char *class_name, tsl_arena *arena,
	const char *record, uint64_t base_offset, tsl_error *err);

/**
 * The classes of a code file, found in one pass (a file of N classes was
 * scanned whole for each: N x its size).  tsl__class_header_parse_in then
 * parses one of them as tsl__class_header_parse (lazy: as
 * tsl__class_header_parse_lazy) would, same results and errors, without a
 * scan.  `e` is malloc'd: free with tsl__class_file_free.
 */
typedef struct tsl_class_file {
	struct tsl_class_file_entry *e;   /* sorted by name, then position */
	size_t n;                         /* classes found */
} tsl_class_file;

/** Index src[0..len): TSL_OK or TSL_ENOMEM. */
TSL_INTERNAL int tsl__class_file_index(tsl_class_file *out, const char *src,
	size_t len);
TSL_INTERNAL void tsl__class_file_free(tsl_class_file *cf);
/** tsl__class_header_parse (lazy false) or _lazy (true) of a class of the
 *  indexed file src[0..len). */
TSL_INTERNAL int tsl__class_header_parse_in(tsl_class_info **out,
	const tsl_class_file *cf, const char *src, size_t len,
	const char *class_name, tsl_arena *arena, const char *record,
	uint64_t base_offset, bool lazy, tsl_error *err);

/**
 * Parse every top-level `def` of a code file (column 0), in file order.
 * Functions referenced as `__torch__.fn(...)` and the methods of legacy
 * 1.0-1.2 files (`def forward(self,\n    x: Tensor) -> Tensor:`) live here.
 * An unannotated first argument named `self` gets type NULL.
 *
 * @param[out] out, count  the functions (arena memory; NULL, 0 if none)
 * @return as tsl__class_header_parse, never TSL_ENOTFOUND.
 */
TSL_INTERNAL int tsl__code_functions(tsl_class_method **out, size_t *count,
	const char *src, size_t len, tsl_arena *arena, const char *record,
	uint64_t base_offset, tsl_error *err);

/** A short name for a class kind ("module", "namedtuple", ...). */
TSL_INTERNAL const char *tsl__class_kind_name(tsl_class_kind kind);

#endif
