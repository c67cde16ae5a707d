/*
 * tsload.h - open PyTorch TorchScript archives without PyTorch.
 *
 * The flow, one way:
 *
 *   source -> mapping -> record index -> pickles -> values -> module tree
 *          -> tensors -> storages -> device
 *
 * tsl_archive   an opened archive: the read-only mapping and the index of its
 *               records (zip central directory).  Reads no tensor bytes.
 * tsl_model     what torch.jit.load returns: the root module, constants and
 *               extra files, read from an archive.  Reads the pickles and the
 *               class headers under code/, still no tensor bytes.
 * tsl_value     one value of the model (int, str, list, dict, object, tensor...)
 * tsl_module    a module node of the model tree (a value of kind MODULE)
 * tsl_tensor    a tensor view: dtype, shape, strides, offset, storage
 * tsl_storage   the bytes behind one or more tensors (lazy)
 *
 * CAVEATS (read once):
 *  - Every pointer handed out by a tsl_model (values, modules, tensors,
 *    strings, names) is borrowed: it stays valid until tsl_model_free().
 *    Pointers handed out by a tsl_archive stay valid until tsl_archive_free().
 *    A model keeps its archive alive (reference counted), so freeing the
 *    archive first is allowed.
 *  - Data pointers may point into a read-only file mapping: writing through
 *    them faults (use tsl_storage_copy for a writable copy).
 *  - SIGBUS: if another process truncates the file while it is mapped,
 *    touching the lost pages raises SIGBUS, as for any mmap reader.  tsload
 *    checks the file's size before it hands out a view (a storage whose
 *    bytes are gone fails with TSL_EIO instead, naming the record "#<n>",
 *    its place in the index, when the shrink took the central directory
 *    that holds the names), but a truncation after that check cannot be
 *    caught, and record names are read from the mapping too.  Where files
 *    may change underneath, open with TSL_OPEN_COPY (the file is read into
 *    private memory: no SIGBUS, at the cost of one full read), or replace
 *    files by rename(), never in place.
 *  - Reading functions are safe to call from any number of threads on the same
 *    archive or model.  Freeing is not: free once, after every other use.
 *
 * Errors: every function that can fail returns an int status (TSL_OK or a
 * negative TSL_E* code) and fills an optional caller-owned tsl_error.
 * Status values are ABI: they are appended to, never renumbered.
 */
#ifndef TSLOAD_H
#define TSLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define TSL_API __attribute__((visibility("default")))
#define TSL_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define TSL_API
#define TSL_WARN_UNUSED
#endif

#define TSL_VERSION_MAJOR 0
#define TSL_VERSION_MINOR 1
#define TSL_VERSION_PATCH 0
#define TSL_VERSION_STRING "0.1.0"

/** The library version as a string, e.g. "0.1.0". Thread-safe. */
TSL_API const char *tsl_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

typedef enum tsl_status {
	TSL_OK = 0,
	TSL_EINVAL = -1,         /* bad argument from the caller */
	TSL_ENOMEM = -2,         /* an allocation failed */
	TSL_EIO = -3,            /* a system call failed; see tsl_error.sys_errno */
	TSL_EFORMAT = -4,        /* the archive is corrupt or malformed */
	TSL_ENOTFOUND = -5,      /* no such record, attribute, file or path */
	TSL_ELIMIT = -6,         /* a configured limit was exceeded (message names it) */
	TSL_EUNSUPPORTED = -7,   /* well formed but not supported (method, dtype...) */
	TSL_EVERSION = -8,       /* file-format version outside what PyTorch reads */
	TSL_ENOTTORCHSCRIPT = -9,/* a known format that is not a TorchScript archive */
	TSL_EDEVICE = -10,       /* a device is missing or a device operation failed */
	TSL_ETYPE = -11,         /* reserved (not returned by this version) */
	TSL_EUNSAFE = -12        /* the pickle names a GLOBAL outside the allow-list */
} tsl_status;

/* Positive codes are warnings, never returned: the call succeeded (TSL_OK)
 * but something was missing; the tsl_error given, if any, gets the code. */
#define TSL_WNOTRACEDINPUTS 1 /* _restore_shapes asked, no traced_inputs.pkl */

/** A short constant name for a status ("TSL_EFORMAT"). Thread-safe. */
TSL_API const char *tsl_status_name(int status);

/**
 * Details of a failure.  Caller-owned (usually on the stack); nothing in it
 * needs freeing.  Functions fill it only when they fail (or warn).
 */
typedef struct tsl_error {
	int code;            /* the tsl_status returned */
	int sys_errno;       /* errno when a system call failed, else 0 */
	uint64_t offset;     /* byte offset in the archive file, UINT64_MAX if none */
	char record[128];    /* the record (zip entry) involved; "" if none.
	                        Depending on the layer that failed, with the
	                        archive's top folder ("model/data.pkl": the zip
	                        and pickle layers) or without it ("data/0",
	                        "constants.pkl": storages, devices, a missing
	                        record, named as asked for) */
	char message[256];   /* for humans; the wording may change */
} tsl_error;

/* ------------------------------------------------------------------------ */
/* Options and limits                                                        */
/* ------------------------------------------------------------------------ */

/** Open flags (tsl_open_options.flags). */
#define TSL_OPEN_COPY 0x1u       /* copy the whole file into private memory
                                    instead of mapping it: immune to SIGBUS */
#define TSL_OPEN_POPULATE 0x2u   /* MAP_POPULATE the mapping (prefault) */
#define TSL_OPEN_VERIFY_CRC 0x4u /* check a record's CRC-32 when it is read */
#define TSL_OPEN_CHECKPOINTS 0x8u /* tsl_model_load also reads torch.save
                                     zip checkpoints (see tsl_model_value) */
#define TSL_OPEN_HUGE_PAGES 0x10u /* metadata blocks of 256 KiB and more
                                     (record index, arena chunks, pickle
                                     memo) in transparent huge pages: far
                                     fewer page faults for models with many
                                     tensors when the kernel has free huge
                                     pages at hand, but slower where they
                                     must first be backed by a hypervisor
                                     (see doc/PERFORMANCE.md); RSS rounds up
                                     to 2 MiB per block.  Without this flag
                                     or TSL_OPEN_SMALL_PAGES the library
                                     decides: huge pages when the kernel
                                     offers transparent huge pages and does
                                     not report free memory to a hypervisor
                                     (see tsl_huge_pages_auto()) */
#define TSL_OPEN_SMALL_PAGES 0x20u /* never huge pages for metadata (wins
                                     over TSL_OPEN_HUGE_PAGES) */
#define TSL_OPEN_NO_PREFAULT 0x40u /* no prefault helper thread.  Without
                                     it, opening an archive of many records
                                     and loading a model with much metadata
                                     (1 MiB or more expected) start one
                                     short-lived thread, for that call only,
                                     that faults in the pages the call is
                                     about to write, on another CPU (when
                                     the process may use two): first page
                                     accesses cost 5-10 us each on some
                                     VMs.  It only reads; it is joined
                                     before the call returns.  The
                                     environment variable TSL_PREFAULT=0
                                     turns it off, =1 on for every call */

/**
 * What the library decides for metadata pages when neither
 * TSL_OPEN_HUGE_PAGES nor TSL_OPEN_SMALL_PAGES is given: 1 (huge pages)
 * when /sys/kernel/mm/transparent_hugepage/enabled is "always" or
 * "madvise" and no virtio balloon reports free pages to the host (free
 * page reporting: there a huge page must be backed again by the host and
 * costs more than the small pages it replaces); else 0.  The environment
 * variable TSL_HUGE_PAGES=0 or 1 overrides the rule.  Decided once per
 * process.  Thread-safe.
 */
TSL_API int tsl_huge_pages_auto(void);

/**
 * Options for opening and loading.  Initialise with TSL_OPTIONS_INIT or
 * tsl_options_init(); fields are only ever appended, and `version` tells the
 * library which fields the caller knows.  Zero-initialised options
 * (`tsl_options o = {0};` in C, `tsl_options o{};` in C++, a binding's
 * zeroed struct) mean the defaults: version 0 is read as version 1.  Every
 * limit: 0 means the default.
 * max_records, max_record_bytes, max_total_bytes and the TSL_OPEN_COPY /
 * POPULATE / VERIFY_CRC / HUGE_PAGES flags are read from the options given when the
 * archive is opened; the pickle limits, map_location, remap,
 * restore_shapes and TSL_OPEN_CHECKPOINTS / HUGE_PAGES from those given to
 * tsl_model_load (tsl_load_path passes the same options to both).
 */
typedef struct tsl_options {
	unsigned int version;       /* TSL_OPTIONS_VERSION */
	uint32_t flags;             /* TSL_OPEN_* */
	/* limits; input is untrusted */
	uint64_t max_records;       /* records in the archive (default 1,000,000) */
	uint64_t max_record_bytes;  /* decompressed bytes of one record read into
	                               memory: pickles, code (default 1 GiB) */
	uint64_t max_total_bytes;   /* decompressed bytes in total (default 4 GiB) */
	uint32_t max_depth;         /* pickle nesting depth (default 1000;
	                               at most 16,383: more reads as that) */
	uint64_t max_memo;          /* pickle memo entries (default 10,000,000) */
	uint64_t max_container;     /* items in one list/dict/tuple (default 100M) */
	uint64_t max_meta_bytes;    /* bytes allocated for metadata (default 2 GiB) */
	uint32_t max_rank;          /* tensor rank (default 64; at most
	                               65,535: more reads as that) */
	/* loading */
	const char *map_location;   /* NULL: each storage goes where it was
	                               saved; "cpu", "cuda", "cuda:1"... sends all */
	int restore_shapes;         /* apply traced inputs to method signatures */
	const char *const *remap;   /* NULL, or pairs {"cuda:0", "cuda:1", ...,
	                               NULL}: a saved location equal to a pair's
	                               first string goes to its second (applied
	                               when map_location is NULL) */
} tsl_options;

#define TSL_OPTIONS_VERSION 1
#ifndef __cplusplus
#define TSL_OPTIONS_INIT { .version = TSL_OPTIONS_VERSION }
#else
/* C++ has designated initializers only from C++20 (g++ and clang++ warn
 * before): the same value from an inline function, warning-free from
 * C++98 on.  `tsl_options o = TSL_OPTIONS_INIT;` works in both languages. */
static inline tsl_options tsl__options_init_cxx(void)
{
	tsl_options o = tsl_options();

	o.version = TSL_OPTIONS_VERSION;
	return o;
}
#define TSL_OPTIONS_INIT tsl__options_init_cxx()
#endif

/** Fill *opts with defaults for the given version. Returns TSL_EINVAL on an
 *  unknown version. Thread-safe. */
TSL_API int tsl_options_init(tsl_options *opts, unsigned int version);

/* ------------------------------------------------------------------------ */
/* Archives: the mapping and the index of records                            */
/* ------------------------------------------------------------------------ */

typedef struct tsl_archive tsl_archive;

/** What a file is.  tsl_archive_open_* succeed for the zip kinds
 *  TORCHSCRIPT, TORCHSCRIPT_LEGACY and TORCH_SAVE (their records can be
 *  read); the others fail with TSL_ENOTTORCHSCRIPT, saying what the file
 *  is.  tsl_model_load reads TORCHSCRIPT and TORCHSCRIPT_LEGACY, and
 *  TORCH_SAVE with TSL_OPEN_CHECKPOINTS. */
typedef enum tsl_file_kind {
	TSL_KIND_UNKNOWN = 0,         /* not a format we know (not a zip...) */
	TSL_KIND_TORCHSCRIPT = 1,     /* torch.jit.save, 1.3+ (data.pkl+constants.pkl) */
	TSL_KIND_TORCHSCRIPT_LEGACY = 2, /* torch.jit.save 1.0-1.2 (model.json) */
	TSL_KIND_TORCH_SAVE = 3,      /* torch.save zip checkpoint (data.pkl only) */
	TSL_KIND_TORCH_SAVE_LEGACY = 4, /* torch.save pickle stream (pre-1.6) */
	TSL_KIND_FLATBUFFER = 5,      /* mobile FlatBuffer (PTMF) */
	TSL_KIND_PREVIEW = 6,         /* PYTORCH1 record file of 1.0 previews */
	TSL_KIND_ZIP = 7              /* a zip with none of the above */
} tsl_file_kind;

/** A name for a file kind ("torchscript", "torch.save checkpoint"...). */
TSL_API const char *tsl_file_kind_name(tsl_file_kind kind);

/**
 * Open an archive from a path: map it read-only and index its records.
 * Touches only the end of the file (central directory) and a few header
 * bytes; no record data.
 *
 * @param[out] out  receives the archive, owned by the caller
 *                  (tsl_archive_free); set to NULL on failure
 * @param path      file to open
 * @param opts      NULL for defaults
 * @param[out] err  optional; filled on failure
 * @return TSL_OK; TSL_ENOTFOUND (no such path); TSL_EINVAL (a directory
 *         or not a regular file); TSL_EIO; TSL_EFORMAT (corrupt);
 *         TSL_ELIMIT; TSL_EVERSION; TSL_ENOTTORCHSCRIPT (an empty file or
 *         another format: the message says what the file is)
 * Thread-safety: safe; the returned archive may be read from any thread.
 */
TSL_API int tsl_archive_open_path(tsl_archive **out, const char *path,
	const tsl_options *opts, tsl_error *err) TSL_WARN_UNUSED;

/** As tsl_archive_open_path, from an open file descriptor.  The descriptor is
 *  not closed and may be closed as soon as this returns (the mapping holds
 *  the file).  It need not be at offset 0. */
TSL_API int tsl_archive_open_fd(tsl_archive **out, int fd,
	const tsl_options *opts, tsl_error *err) TSL_WARN_UNUSED;

/** As tsl_archive_open_path, from the caller's memory.  The buffer is
 *  borrowed, never copied: it must stay valid and unchanged until the archive
 *  and every model loaded from it are freed. */
TSL_API int tsl_archive_open_buffer(tsl_archive **out, const void *data,
	size_t size, const tsl_options *opts, tsl_error *err) TSL_WARN_UNUSED;

/**
 * Reader callbacks, like a Python file object.  read() returns the bytes
 * read (0 at end of file) or -1 with errno set.  seek() (whence as lseek) and
 * tell() return the new/current offset or -1; leave them NULL for a stream
 * that cannot seek (a pipe, a socket): it is then read once into an anonymous
 * file (memfd) which is mapped.
 */
typedef struct tsl_reader {
	int64_t (*read)(void *payload, void *buf, size_t size);
	int64_t (*seek)(void *payload, int64_t offset, int whence);
	int64_t (*tell)(void *payload);
	void *payload;
} tsl_reader;

/** As tsl_archive_open_path, from reader callbacks.  The whole stream is
 *  the archive (reading starts at offset 0 for a seekable reader; tell is
 *  not used; a reader whose seek(0, SEEK_END) fails is read as a stream
 *  from where it is).  TSL_OPEN_COPY and POPULATE do not apply.
 *  Lifetime: a non-seekable stream is read to its end during this call and
 *  the callbacks are not used after it.  A seekable reader is read on
 *  demand: the callbacks and payload must stay valid until the archive and
 *  every model loaded from it are freed; they are called one at a time
 *  (under a lock), possibly from any thread that reads a record. */
TSL_API int tsl_archive_open_reader(tsl_archive **out, const tsl_reader *reader,
	const tsl_options *opts, tsl_error *err) TSL_WARN_UNUSED;

/** Release the caller's reference. The mapping goes away once no model
 *  loaded from it remains. NULL is a no-op. Not thread-safe against other
 *  use of the same archive. */
TSL_API void tsl_archive_free(tsl_archive *ar);

/** What the archive is (one of the zip kinds above). */
TSL_API tsl_file_kind tsl_archive_kind(const tsl_archive *ar);

/** The archive's folder prefix ("model" for model.pt). Borrowed from ar. */
TSL_API const char *tsl_archive_prefix(const tsl_archive *ar);

/** The file-format version from `.data/version` or `version`. */
TSL_API uint64_t tsl_archive_format_version(const tsl_archive *ar);

/** Byte order of the stored tensors: 0 little (also when no `byteorder`
 *  record exists), 1 big. */
TSL_API int tsl_archive_big_endian(const tsl_archive *ar);

/** Mapped size of the archive in bytes. */
TSL_API uint64_t tsl_archive_size(const tsl_archive *ar);

/** One record (zip entry) as the central directory describes it. */
typedef struct tsl_record_info {
	const char *name;          /* without the prefix; NUL-terminated, borrowed */
	uint16_t method;           /* 0 stored, 8 deflate, ... */
	uint32_t crc32;
	uint64_t compressed_size;
	uint64_t size;             /* uncompressed */
	uint64_t header_offset;    /* local header offset in the file */
} tsl_record_info;

/** Number of records in the archive. */
TSL_API size_t tsl_archive_record_count(const tsl_archive *ar);

/** Describe record `index` (central-directory order). Borrowed strings:
 *  the name is copied out of the mapped central directory on the first call
 *  for that record and kept until tsl_archive_free().  Returns TSL_EINVAL
 *  when index is out of range, TSL_ENOMEM when that copy cannot be made.
 *  Thread-safe. */
TSL_API int tsl_archive_record(const tsl_archive *ar, size_t index,
	tsl_record_info *out);

/** Look a record up by name (without the prefix, e.g. "data.pkl").
 *  Returns TSL_OK with *index set, or TSL_ENOTFOUND. Thread-safe. */
TSL_API int tsl_archive_find(const tsl_archive *ar, const char *name,
	size_t *index);

/** The file offset of record `index`'s data, read from its local header on
 *  first use (and cached).  Thread-safe. */
TSL_API int tsl_archive_record_data_offset(tsl_archive *ar, size_t index,
	uint64_t *out, tsl_error *err);

/**
 * The bytes of record `index`.  A stored record is a zero-copy slice of the
 * mapping; a compressed one is decoded (through libarchive) once into memory
 * owned by the archive and cached.  Either way *data stays valid until
 * tsl_archive_free() and must not be written to.  A compressed record's
 * declared size is checked against max_record_bytes (the running total
 * against max_total_bytes) and must equal the decoded size; stored records
 * are neither copied nor limited.
 * Thread-safe.
 */
TSL_API int tsl_archive_record_data(tsl_archive *ar, size_t index,
	const void **data, size_t *size, tsl_error *err);

/** tsl_archive_record_data by name. */
TSL_API int tsl_archive_read(tsl_archive *ar, const char *name,
	const void **data, size_t *size, tsl_error *err);

/**
 * Find out what a file is without opening it as TorchScript (reads its first
 * bytes and the central directory).  Returns TSL_OK and sets *kind, or an
 * error for unreadable files.
 */
TSL_API int tsl_detect_path(const char *path, tsl_file_kind *kind, tsl_error *err);

/* ------------------------------------------------------------------------ */
/* Models, modules and values                                                */
/* ------------------------------------------------------------------------ */

typedef struct tsl_model tsl_model;
typedef struct tsl_value tsl_value;
typedef struct tsl_module tsl_module;
typedef struct tsl_tensor tsl_tensor;
typedef struct tsl_storage tsl_storage;

/**
 * Read the module tree of an opened archive: constants.pkl, data.pkl and the
 * class headers under code/.  Reads no tensor bytes.
 *
 * @param[out] out  the model, owned by the caller (tsl_model_free); it holds
 *                  a reference to `ar`
 * @param ar        an open archive
 * @param opts      NULL for defaults (limits, map_location)
 * @return TSL_OK, TSL_EFORMAT, TSL_EUNSAFE (a GLOBAL outside the allow-list),
 *         TSL_ELIMIT, TSL_EDEVICE (map_location or saved device missing), ...
 * Thread-safety: safe; one archive may be loaded by several threads.
 */
TSL_API int tsl_model_load(tsl_model **out, tsl_archive *ar,
	const tsl_options *opts, tsl_error *err) TSL_WARN_UNUSED;
/* When opts->restore_shapes is set and the archive has no
 * traced_inputs.pkl, tsl_model_load returns TSL_OK (the model is loaded) and
 * warns as torch.jit.load does: err (if given) gets code TSL_WNOTRACEDINPUTS
 * and "Cannot restore shapes as no traced inputs were stored"; the query is
 * tsl_model_traced_inputs(m) == NULL. */

/** Open `path` and load its model in one call.  The model owns the archive. */
TSL_API int tsl_load_path(tsl_model **out, const char *path,
	const tsl_options *opts, tsl_error *err) TSL_WARN_UNUSED;

/** Free a model and everything borrowed from it. NULL is a no-op. */
TSL_API void tsl_model_free(tsl_model *m);

/** The archive the model was read from (borrowed). */
TSL_API tsl_archive *tsl_model_archive(const tsl_model *m);

/** The root module (borrowed from m); NULL for a torch.save checkpoint. */
TSL_API const tsl_module *tsl_model_root(const tsl_model *m);

/** The unpickled data.pkl: the root module's value for TorchScript, the
 *  saved object (a state dict...) for a torch.save checkpoint. */
TSL_API const tsl_value *tsl_model_value(const tsl_model *m);

/** What the model was read from: TSL_KIND_TORCHSCRIPT,
 *  TSL_KIND_TORCHSCRIPT_LEGACY or TSL_KIND_TORCH_SAVE. */
TSL_API tsl_file_kind tsl_model_kind(const tsl_model *m);

/** The constants tuple (constants.pkl), a value of kind TUPLE. */
TSL_API const tsl_value *tsl_model_constants(const tsl_model *m);

/** Value kinds. */
typedef enum tsl_value_kind {
	TSL_VALUE_NONE = 0,
	TSL_VALUE_BOOL,
	TSL_VALUE_INT,
	TSL_VALUE_FLOAT,
	TSL_VALUE_COMPLEX,
	TSL_VALUE_STRING,
	TSL_VALUE_BYTES,
	TSL_VALUE_LIST,
	TSL_VALUE_TUPLE,
	TSL_VALUE_DICT,
	TSL_VALUE_DEVICE,
	TSL_VALUE_ENUM,
	TSL_VALUE_OBJECT,
	TSL_VALUE_MODULE,
	TSL_VALUE_TENSOR
} tsl_value_kind;

/* All value accessors are thread-safe and return borrowed pointers.  Asking
 * a value for something of another kind returns 0 / NULL. */
TSL_API tsl_value_kind tsl_value_kind_of(const tsl_value *v);
TSL_API const char *tsl_value_kind_name(tsl_value_kind kind);
TSL_API int tsl_value_bool(const tsl_value *v);
TSL_API int64_t tsl_value_int(const tsl_value *v);
TSL_API double tsl_value_float(const tsl_value *v);
TSL_API void tsl_value_complex(const tsl_value *v, double *re, double *im);
/** STRING, BYTES and DEVICE: the bytes (NUL-terminated) and their length. */
TSL_API const char *tsl_value_string(const tsl_value *v, size_t *len);
/** LIST, TUPLE, DICT: number of items; OBJECT, MODULE: number of attributes
 *  in the pickled state (0 for a __getstate__ object). */
TSL_API size_t tsl_value_len(const tsl_value *v);
/** LIST, TUPLE: item i. DICT: the value of entry i. */
TSL_API const tsl_value *tsl_value_item(const tsl_value *v, size_t i);
/** DICT: the key of entry i (insertion order). */
TSL_API const tsl_value *tsl_value_key(const tsl_value *v, size_t i);
/** OBJECT, MODULE, ENUM: the qualified class name. */
TSL_API const char *tsl_value_type_name(const tsl_value *v);
/** OBJECT, MODULE: attribute i's name and value (slot-dict state). */
TSL_API const char *tsl_value_attr_name(const tsl_value *v, size_t i);
TSL_API const tsl_value *tsl_value_attr(const tsl_value *v, size_t i);
/** OBJECT, MODULE: the value pickled for a class with __getstate__, or NULL. */
TSL_API const tsl_value *tsl_value_state(const tsl_value *v);
/** ENUM: the member's name and value. */
TSL_API const char *tsl_value_enum_name(const tsl_value *v);
TSL_API const tsl_value *tsl_value_enum_value(const tsl_value *v);
/** LIST, DICT: the type the pickle recorded (restore_type_tag,
 *  build_intlist...), or NULL; a Python set/frozenset is a LIST tagged
 *  "set"/"frozenset".  TUPLE: NULL. */
TSL_API const char *tsl_value_type_tag(const tsl_value *v);
/** TENSOR: the tensor, NULL for an undefined tensor. */
TSL_API const tsl_tensor *tsl_value_tensor(const tsl_value *v);
/** MODULE: the module node. */
TSL_API const tsl_module *tsl_value_module(const tsl_value *v);

/* Modules ----------------------------------------------------------------- */

typedef enum tsl_attr_kind {
	TSL_ATTR_ATTRIBUTE = 0,
	TSL_ATTR_PARAMETER = 1,
	TSL_ATTR_BUFFER = 2,
	TSL_ATTR_MODULE = 3
} tsl_attr_kind;

/** Qualified class name, e.g. "__torch__.torch.nn.modules.linear.Linear". */
TSL_API const char *tsl_module_type(const tsl_module *mod);
/** The `training` flag: 1, 0, or -1 when unknown (no attribute, or a class
 *  with __getstate__/__setstate__). */
TSL_API int tsl_module_training(const tsl_module *mod);
/** The module as a value (kind MODULE). */
TSL_API const tsl_value *tsl_module_value(const tsl_module *mod);
/** The __getstate__ value of a class with __setstate__, else NULL. */
TSL_API const tsl_value *tsl_module_state(const tsl_module *mod);

/** Attributes in the order the class declares them (slot order). */
TSL_API size_t tsl_module_attr_count(const tsl_module *mod);
typedef struct tsl_attr {
	const char *name;
	tsl_attr_kind kind;
	const char *type;         /* declared annotation text */
	const tsl_value *value;   /* NULL for a __setstate__ class */
} tsl_attr;
TSL_API int tsl_module_attr(const tsl_module *mod, size_t i, tsl_attr *out);

/**
 * Read the module's methods now.  Method signatures are parsed from code/
 * on first use (the load reads only class headers), once per class and
 * thread-safely; this reports a malformed method, which the functions
 * below can only report as "no methods" (count) or its status code.
 */
TSL_API int tsl_module_methods_load(const tsl_module *mod, tsl_error *err);

/** Methods of the class, sorted by name (forward hooks are not listed, as
 *  in libtorch).  An unannotated `self` is typed with the class's qualified
 *  name; a method without a return annotation returns "NoneType". */
TSL_API size_t tsl_module_method_count(const tsl_module *mod);
typedef struct tsl_method {
	const char *name;
	size_t nargs;             /* including self */
	const char *const *arg_names;
	const char *const *arg_types;
	size_t nreturns;          /* 1 */
	const char *const *return_types;
	/* With tsl_options.restore_shapes and stored traced inputs: per
	 * argument, the example input's type as "float32[1, 3, 224, 224]"
	 * (NULL entries for arguments without one, and for self); else NULL. */
	const char *const *arg_shapes;
} tsl_method;
TSL_API int tsl_module_method(const tsl_module *mod, size_t i, tsl_method *out);
/** The source text of method i (borrowed, not NUL-terminated: see *len). */
TSL_API int tsl_module_method_source(const tsl_module *mod, size_t i,
	const char **src, size_t *len, tsl_error *err);

/** Look up a value by dotted path from this module ("layer1.0.conv1.weight").
 *  Returns NULL when a step is missing. */
TSL_API const tsl_value *tsl_module_find(const tsl_module *mod, const char *path);
/** tsl_module_find, then the tensor (NULL if missing or not a tensor). */
TSL_API const tsl_tensor *tsl_module_find_tensor(const tsl_module *mod,
	const char *path);

/** Iteration in PyTorch's orders.  The callback gets the dotted name (valid
 *  during the call) and returns 0 to go on or a positive value to stop.
 *  The functions return 0 after a full walk, the callback's value, or
 *  TSL_EINVAL / TSL_ENOMEM / TSL_ELIMIT (nesting over 10,000).
 *  named_parameters, named_buffers and named_modules yield a shared tensor
 *  or module once (as PyTorch's remove_duplicate); state_dict yields every
 *  name. */
typedef int (*tsl_named_tensor_cb)(void *payload, const char *name,
	const tsl_tensor *t);
typedef int (*tsl_named_module_cb)(void *payload, const char *name,
	const tsl_module *mod);
TSL_API int tsl_module_named_parameters(const tsl_module *mod,
	tsl_named_tensor_cb cb, void *payload);
TSL_API int tsl_module_named_buffers(const tsl_module *mod,
	tsl_named_tensor_cb cb, void *payload);
/** The keys and tensors module.state_dict() would have. */
TSL_API int tsl_module_state_dict(const tsl_module *mod,
	tsl_named_tensor_cb cb, void *payload);
/** Every module, the root first with name "". */
TSL_API int tsl_module_named_modules(const tsl_module *mod,
	tsl_named_module_cb cb, void *payload);

/* Every tensor of a model ------------------------------------------------
 *
 * One list of every tensor a model holds, under names that say where each
 * came from, for exporters:
 *  - TorchScript: first the state_dict() keys in PyTorch's order
 *    (PARAMETER, BUFFER; a tensor shared by two modules appears under both
 *    names), then tensors found nowhere in the state_dict: plain tensor
 *    attributes (ATTRIBUTE; inside lists, tuples and dicts by item index or
 *    key: "encoder.cache.0"), tensors inside the __getstate__ state of a
 *    module or object (STATE; "conv.__getstate__.10",
 *    "fc._packed_params._packed_params.__getstate__.0.0"), then the
 *    constants (CONSTANT; "CONSTANTS.c0", as TorchScript code names them).
 *    Those after the state_dict are listed once each (by tensor).
 *  - torch.save checkpoints (TSL_OPEN_CHECKPOINTS): every tensor of the
 *    saved object (CHECKPOINT): dict keys and object attributes joined
 *    with dots, list and tuple items by index ("optimizer.state.0.exp_avg");
 *    a tensor saved under two keys appears under both, and so does every
 *    tensor of a container saved under two keys ({"model": sd, "ema": sd}:
 *    "model.w" and "ema.w"; TSL_ELIMIT when such sharing makes the paths
 *    too many to list, see tsl_model_tensors(3)).  Keys that are not str
 *    are named as Python's str() prints them ("None", "True", "7", "0.5");
 *    those no name can hold (a tuple, bytes, a str with a NUL byte) by
 *    their position in the dict.
 * Sparse tensors are listed too (check tsl_tensor_layout).
 */
typedef enum tsl_tensor_origin {
	TSL_ORIGIN_PARAMETER = 0,
	TSL_ORIGIN_BUFFER = 1,
	TSL_ORIGIN_ATTRIBUTE = 2,
	TSL_ORIGIN_STATE = 3,
	TSL_ORIGIN_CONSTANT = 4,
	TSL_ORIGIN_CHECKPOINT = 5
} tsl_tensor_origin;

/** "parameter", "buffer", "attribute", "state", "constant", "checkpoint". */
TSL_API const char *tsl_tensor_origin_name(tsl_tensor_origin origin);

typedef struct tsl_tensor_entry {
	const char *name;         /* borrowed from the model, valid until
	                             tsl_model_free() */
	const tsl_tensor *tensor; /* borrowed from the model */
	tsl_tensor_origin origin;
	int state_dict;           /* 1: a state_dict() key (PARAMETER and
	                             BUFFER entries, every CHECKPOINT entry) */
	size_t storage;           /* the storage, numbered 0, 1, ... in the
	                             order of the list: equal numbers share
	                             bytes; SIZE_MAX for a sparse tensor */
	size_t alias_of;          /* the index of the first entry with the
	                             same view (storage, dtype, offset, shape,
	                             strides), SIZE_MAX when this is the first */
} tsl_tensor_entry;

/**
 * Build the list (once per model; later calls return at once) and give its
 * length in *count.  The list lives in the model until tsl_model_free().
 * @return TSL_OK; TSL_ENOMEM; TSL_ELIMIT (values nested deeper than
 *         10,000); TSL_EINVAL (NULL)
 * Thread-safety: safe; threads that build it at the same time each build
 * and one list is kept.
 */
TSL_API int tsl_model_tensor_count(tsl_model *m, size_t *count,
	tsl_error *err);
/** Entry i of the list built by tsl_model_tensor_count (i < count).
 *  TSL_EINVAL when the list is not built or i is out of range.
 *  Thread-safe. */
TSL_API int tsl_model_tensor_at(const tsl_model *m, size_t i,
	tsl_tensor_entry *out);
/** The walk form: build the list if needed and call cb for each entry in
 *  order; cb returns 0 to go on or a positive value to stop.  Returns 0,
 *  the callback's value, or what tsl_model_tensor_count returns.  The entry
 *  is valid during the call, its name and tensor until tsl_model_free(). */
typedef int (*tsl_tensor_entry_cb)(void *payload, const tsl_tensor_entry *e);
TSL_API int tsl_model_tensors(tsl_model *m, tsl_tensor_entry_cb cb,
	void *payload, tsl_error *err);

/* Extra files ------------------------------------------------------------- */

/** Number of extra/ files (sorted by name). */
TSL_API size_t tsl_archive_extra_count(const tsl_archive *ar);
/** Name of extra file i (without "extra/"), borrowed. */
TSL_API const char *tsl_archive_extra_name(const tsl_archive *ar, size_t i);
/** Read extra file `name` (zero-copy where stored). TSL_ENOTFOUND if absent. */
TSL_API int tsl_archive_extra_read(tsl_archive *ar, const char *name,
	const void **data, size_t *size, tsl_error *err);

/* Tensors ----------------------------------------------------------------- */

typedef enum tsl_dtype {
	TSL_UINT8 = 0, TSL_INT8 = 1, TSL_INT16 = 2, TSL_INT32 = 3, TSL_INT64 = 4,
	TSL_FLOAT16 = 5, TSL_FLOAT32 = 6, TSL_FLOAT64 = 7, TSL_COMPLEX32 = 8,
	TSL_COMPLEX64 = 9, TSL_COMPLEX128 = 10, TSL_BOOL = 11, TSL_QINT8 = 12,
	TSL_QUINT8 = 13, TSL_QINT32 = 14, TSL_BFLOAT16 = 15, TSL_QUINT4X2 = 16,
	TSL_QUINT2X4 = 17, TSL_BITS1X8 = 18, TSL_BITS2X4 = 19, TSL_BITS4X2 = 20,
	TSL_BITS8 = 21, TSL_BITS16 = 22, TSL_FLOAT8_E5M2 = 23,
	TSL_FLOAT8_E4M3FN = 24, TSL_FLOAT8_E5M2FNUZ = 25,
	TSL_FLOAT8_E4M3FNUZ = 26, TSL_UINT16 = 27, TSL_UINT32 = 28,
	TSL_UINT64 = 29, TSL_DTYPE_COUNT
} tsl_dtype; /* the values are PyTorch's ScalarType numbers */

/** "float32", "int64", ... ; "unknown" for a value that is no tsl_dtype
 * (never NULL).  A static string: never freed, valid forever, thread-safe. */
TSL_API const char *tsl_dtype_name(tsl_dtype dtype);
/** Bytes per element (0 for an unknown dtype). */
TSL_API size_t tsl_dtype_size(tsl_dtype dtype);

typedef enum tsl_layout {
	TSL_LAYOUT_STRIDED = 0,
	TSL_LAYOUT_SPARSE_COO = 1
} tsl_layout;

typedef enum tsl_qscheme {
	TSL_QSCHEME_NONE = -1,
	TSL_QSCHEME_PER_TENSOR_AFFINE = 0,
	TSL_QSCHEME_PER_CHANNEL_AFFINE = 1,
	TSL_QSCHEME_PER_TENSOR_SYMMETRIC = 2,
	TSL_QSCHEME_PER_CHANNEL_SYMMETRIC = 3,
	TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS = 4
} tsl_qscheme;

TSL_API tsl_dtype tsl_tensor_dtype(const tsl_tensor *t);
TSL_API tsl_layout tsl_tensor_layout(const tsl_tensor *t);
TSL_API size_t tsl_tensor_ndim(const tsl_tensor *t);
/** Sizes and strides (in elements); arrays of ndim, borrowed. */
TSL_API const int64_t *tsl_tensor_shape(const tsl_tensor *t);
TSL_API const int64_t *tsl_tensor_strides(const tsl_tensor *t);
TSL_API int64_t tsl_tensor_storage_offset(const tsl_tensor *t);
/** Number of elements (product of the shape). */
TSL_API uint64_t tsl_tensor_numel(const tsl_tensor *t);
TSL_API int tsl_tensor_requires_grad(const tsl_tensor *t);
/** The device string the tensor was saved on ("cpu", "cuda:0"). */
TSL_API const char *tsl_tensor_saved_device(const tsl_tensor *t);
/** The device the tensor goes to under the model's map_location. */
TSL_API const char *tsl_tensor_device(const tsl_tensor *t);
/** conj / neg bits of the optional tensor metadata. */
TSL_API int tsl_tensor_is_conj(const tsl_tensor *t);
TSL_API int tsl_tensor_is_neg(const tsl_tensor *t);
/** Quantization; TSL_QSCHEME_NONE for a plain tensor. */
TSL_API tsl_qscheme tsl_tensor_qscheme(const tsl_tensor *t);
TSL_API double tsl_tensor_q_scale(const tsl_tensor *t);
TSL_API int64_t tsl_tensor_q_zero_point(const tsl_tensor *t);
TSL_API const tsl_tensor *tsl_tensor_q_scales(const tsl_tensor *t);
TSL_API const tsl_tensor *tsl_tensor_q_zero_points(const tsl_tensor *t);
TSL_API int64_t tsl_tensor_q_axis(const tsl_tensor *t);
/** Sparse COO: indices and values tensors. */
TSL_API const tsl_tensor *tsl_tensor_sparse_indices(const tsl_tensor *t);
TSL_API const tsl_tensor *tsl_tensor_sparse_values(const tsl_tensor *t);
/** The storage behind a strided tensor (shared between views), or NULL. */
TSL_API tsl_storage *tsl_tensor_storage(const tsl_tensor *t);

/* Storages ---------------------------------------------------------------- */

TSL_API tsl_dtype tsl_storage_dtype(const tsl_storage *s);
/** Elements as pickled (bytes / element size). */
TSL_API uint64_t tsl_storage_numel(const tsl_storage *s);
/** Size in bytes of the record behind the storage. */
TSL_API uint64_t tsl_storage_nbytes(const tsl_storage *s);
/** The record's name without prefix ("data/0"): copied out of the mapped
 *  central directory on the first call, kept until the archive is freed;
 *  NULL when out of memory.  Thread-safe. */
TSL_API const char *tsl_storage_record(const tsl_storage *s);
/** Saved location string ("cpu", "cuda:1"). */
TSL_API const char *tsl_storage_location(const tsl_storage *s);

/**
 * The storage's bytes on the CPU, in host byte order, materialized on first
 * access (once, even when many threads ask at the same time).  A stored,
 * aligned, host-order record is a zero-copy pointer into the read-only
 * mapping; anything else is copied once into memory owned by the model.
 * Valid until tsl_model_free() or tsl_storage_release().  Read-only.
 * A storage whose record holds no data (0-byte records of traced inputs or
 * meta tensors) gives *data == NULL, *size == 0.
 * Thread-safe.
 */
TSL_API int tsl_storage_data(tsl_storage *s, const void **data, size_t *size,
	tsl_error *err);

/** A pointer to the first element of a strided tensor's view
 *  (storage data + storage_offset * itemsize).  *data is NULL when the
 *  storage's record holds no bytes (as tsl_storage_data: the inputs of
 *  tsl_model_traced_inputs(), empty tensors), whatever the tensor's shape:
 *  check it before reading.  Thread-safe. */
TSL_API int tsl_tensor_data(const tsl_tensor *t, const void **data,
	tsl_error *err);

/** XXH3-64 of the tensor's elements in logical row-major order, in host
 *  byte order (little-endian on the hosts PyTorch writes for: the canonical
 *  dump's "xxh3").  Reads the data. */
TSL_API int tsl_tensor_xxh3(const tsl_tensor *t, uint64_t *out, tsl_error *err);

/* Tensor facts and gathers ------------------------------------------------
 *
 * For handing a tensor's elements out: as one row-major (C-order) buffer,
 * optionally in another dtype.  The bytes are in host order (a big-endian
 * archive is swapped as tsl_storage_data does).  All of these are
 * thread-safe; they read the tensor's storage (materializing it) but never
 * change the tensor.
 */

/** 1 when a strided tensor's elements lie row-major without gaps, as
 *  PyTorch's is_contiguous(): a dimension of size 1 may have any stride, a
 *  tensor with no elements is contiguous.  0 otherwise (also for a sparse
 *  tensor or NULL). */
TSL_API int tsl_tensor_is_contiguous(const tsl_tensor *t);

/** numel x element size in *out (for quint4x2 / quint2x4, whose elements
 *  are packed two / four to a byte: the packed size, rounded up).
 *  TSL_ELIMIT when the product overflows 64 bits; TSL_EINVAL for a sparse
 *  tensor. */
TSL_API int tsl_tensor_nbytes(const tsl_tensor *t, uint64_t *out,
	tsl_error *err);

/** The zero-copy form: for a contiguous tensor, a pointer to its first
 *  element and its tsl_tensor_nbytes() in *size, borrowed as from
 *  tsl_tensor_data (often a pointer into the read-only file mapping).
 *  *data is NULL when there are no bytes (no elements, or a record without
 *  data).  TSL_EUNSUPPORTED when the tensor is not contiguous (gather it);
 *  TSL_EFORMAT when the view reaches past its storage. */
TSL_API int tsl_tensor_contiguous_data(const tsl_tensor *t, const void **data,
	size_t *size, tsl_error *err);

/** Whether tsl_tensor_gather converts `from` to `to`: always when they are
 *  equal; to TSL_FLOAT32 from every floating type (float16, bfloat16,
 *  float64, the float8 types), every integer type and bool, and the
 *  quantized types qint8, quint8, qint32, quint4x2, quint2x4
 *  (dequantized); to TSL_FLOAT64 from floating and integer types; to
 *  TSL_INT64 from integer types and bool.  Complex, sparse and bits
 *  types convert to nothing but themselves. */
TSL_API int tsl_dtype_can_gather(tsl_dtype from, tsl_dtype to);

/** The bytes tsl_tensor_gather writes for the tensor in dtype `to`
 *  (numel x size of `to`; packed for quint4x2 / quint2x4).  TSL_ELIMIT on
 *  overflow. */
TSL_API int tsl_tensor_gather_size(const tsl_tensor *t, tsl_dtype to,
	uint64_t *size, tsl_error *err);

/**
 * Copy the tensor's elements in logical row-major order into `buf`
 * (caller-owned, `size` bytes, at least tsl_tensor_gather_size), converted
 * to `to` with PyTorch's arithmetic: integers and floats as static_cast
 * (round to nearest even), float16 / bfloat16 / float8 exactly, bool as 0
 * or 1.  Quantized tensors to TSL_FLOAT32 are dequantized as torch's CPU
 * kernels do it: per tensor (float(q) - float(zero_point)) * float(scale)
 * in float; per channel (q - zero_point) * scale in double, rounded to
 * float; per channel with float qparams in float.  With `to` equal to the
 * tensor's dtype the bytes are copied as stored (a quantized tensor's
 * integer values).
 * @return TSL_OK; TSL_EUNSUPPORTED (no such conversion, see
 *         tsl_dtype_can_gather; a non-contiguous packed view); TSL_EINVAL
 *         (NULL, sparse, buffer too small); TSL_EFORMAT (the view reaches
 *         past its storage, malformed quantizer: the message names the
 *         record); TSL_ENOMEM; what tsl_storage_data returns.
 */
TSL_API int tsl_tensor_gather(const tsl_tensor *t, tsl_dtype to, void *buf,
	size_t size, tsl_error *err);

/** tsl_tensor_gather of `count` elements from the row-major index
 *  `first` (count UINT64_MAX: to the end), into a buffer of at least their
 *  size in `to`: for converting a large tensor in pieces with a bounded
 *  buffer.  The pieces put end to end are the whole gather.  TSL_EINVAL
 *  for a range outside the tensor, or a packed (quint4x2 / quint2x4) copy
 *  of one or more elements that does not start on a byte. */
TSL_API int tsl_tensor_gather_range(const tsl_tensor *t, tsl_dtype to,
	uint64_t first, uint64_t count, void *buf, size_t size,
	tsl_error *err);

/** The dtype as safetensors spells it ("F32", "BF16", "F8_E4M3", "I64",
 *  "BOOL", ...), or NULL where safetensors has none (complex, quantized,
 *  bits, the fnuz float8 types).  Static string. Thread-safe. */
TSL_API const char *tsl_dtype_safetensors_name(tsl_dtype dtype);
/** The numpy array-interface typestr of the dtype in host byte order
 *  ("<f4", "|b1", "<c8", ...), or NULL where numpy has none (float16 is
 *  "<f2"; bfloat16, float8 and quantized types have none). Static string. */
TSL_API const char *tsl_dtype_numpy_typestr(tsl_dtype dtype);

/** Number of distinct storages of the model (data/ and constants/). */
TSL_API size_t tsl_model_storage_count(const tsl_model *m);
/** Storage i, in the order they were first met while loading. Borrowed. */
TSL_API tsl_storage *tsl_model_storage(const tsl_model *m, size_t i);

/**
 * Materialize every storage of the model on the CPU (as tsl_storage_data
 * would), using up to `nthreads` threads (0 or 1: the calling thread; at
 * most 64).
 * Mapped pages are touched so that later accesses do not fault.
 * Thread-safe; concurrent accesses to the same storages wait and share.
 */
TSL_API int tsl_model_materialize(tsl_model *m, unsigned nthreads,
	tsl_error *err);

/** Ask the kernel to read a storage's pages ahead (MADV_WILLNEED). Does not
 *  materialize.  Thread-safe. */
TSL_API int tsl_storage_prefetch(tsl_storage *s, tsl_error *err);

/**
 * Give a materialized storage's memory back: an owned copy is freed (for a
 * compressed record, the storage's decoded copy: decoded again on next
 * access), mapped pages are dropped with MADV_DONTNEED (they are read again
 * from the file on next access).  Pointers obtained earlier become invalid.  The next access
 * materializes again.  A device copy is kept.  Not thread-safe against
 * concurrent users of the same storage, nor while a DLPack export of one of
 * its tensors is alive.
 */
TSL_API int tsl_storage_release(tsl_storage *s, tsl_error *err);

/** A private, writable copy of the storage's CPU bytes (host byte order).
 *  The caller owns *out and frees it with free(). */
TSL_API int tsl_storage_copy(tsl_storage *s, void **out, size_t *size,
	tsl_error *err);

/** XXH3-64 of a storage's CPU bytes in host byte order (after the byte
 *  swap of a big-endian archive). */
TSL_API int tsl_storage_xxh3(tsl_storage *s, uint64_t *out, tsl_error *err);

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * A device backend.  "cpu" is built in; "cuda" is built in and loads the
 * CUDA runtime with dlopen() at first use (no build-time dependency; without
 * a driver or GPU it reports itself unavailable).  An application can
 * register its own backend for any other device type name.
 * Every callback returns 0 on success or a negative tsl_status.  Callbacks
 * are called from any thread that reaches a storage on the device, or calls
 * tsl_model_upload, and concurrently for different storages: they must be
 * thread-safe.  A stream is used by one thread at a time.
 *
 * Versions: a version-1 struct (the members up to free_pinned) still
 * registers; its copies are synchronous.  Version 2 appends the optional
 * asynchronous members below (any of them may be NULL).
 */
#define TSL_BACKEND_VERSION 2
typedef struct tsl_backend {
	unsigned int version;      /* TSL_BACKEND_VERSION (1 or 2) */
	const char *name;          /* device type: "cuda", "mydev" */
	void *payload;
	/* number of usable devices (0: unavailable), or a negative status */
	int (*device_count)(void *payload);
	/* device memory of size bytes, freed with free; size may be 0, and
	   *out may then be NULL (as cudaMalloc(0) gives) */
	int (*alloc)(void *payload, int device, size_t size, void **out);
	/* synchronous: the bytes are on the device when it returns */
	int (*copy_h2d)(void *payload, int device, void *dst, const void *src,
		size_t size);
	void (*free)(void *payload, int device, void *ptr);
	/* optional (NULL): page-locked staging memory for faster copies */
	int (*alloc_pinned)(void *payload, size_t size, void **out);
	void (*free_pinned)(void *payload, void *ptr);
	/* --- version 2, all optional --- */
	/* an in-order queue of copies on a device; *stream is the backend's
	 * (NULL is allowed: the default stream) */
	int (*stream_create)(void *payload, int device, void **stream);
	void (*stream_destroy)(void *payload, int device, void *stream);
	/* enqueue a copy from pinned memory (src lies in a block from
	 * alloc_pinned) and return at once; src must not be written, nor dst
	 * read, until the copy is known complete (sync, event_wait).  Used
	 * only with alloc_pinned, free_pinned and sync. */
	int (*copy_h2d_async)(void *payload, int device, void *dst,
		const void *src, size_t size, void *stream);
	/* block until every copy enqueued on stream is complete; a failure
	 * of an enqueued copy may be reported here */
	int (*sync)(void *payload, int device, void *stream);
	/* events: a mark in a stream that the host can wait for, so that
	 * one staging buffer is reused while later copies still run.
	 * Used only when all four are given (else sync alone). */
	int (*event_create)(void *payload, int device, void **event);
	void (*event_destroy)(void *payload, int device, void *event);
	int (*event_record)(void *payload, int device, void *event,
		void *stream);
	int (*event_wait)(void *payload, int device, void *event);
	/* copy device memory back to the host, synchronously (checks,
	 * tsl_storage_device_read) */
	int (*copy_d2h)(void *payload, int device, void *dst, const void *src,
		size_t size);
} tsl_backend;

/**
 * Register a backend, process-wide.  The struct is copied; `payload` must
 * stay valid until tsl_backend_unregister().  A name already registered
 * (including "cpu") is TSL_EINVAL; "cuda" may be replaced.  Names are
 * shorter than 32 bytes; at most 16 backends (TSL_ELIMIT).
 * Thread-safe.
 */
TSL_API int tsl_backend_register(const tsl_backend *backend, tsl_error *err);
/** Remove a backend registered by name.  No model that uses it may remain.
 *  Thread-safe. */
TSL_API int tsl_backend_unregister(const char *name);

/**
 * Is a device ("cpu", "cuda", "cuda:1", "mydev:0") available?  Returns TSL_OK
 * and sets *count to the number of devices of its type, or TSL_EDEVICE with
 * torch's wording when the type is unknown, unavailable, or the index is out
 * of range; TSL_EINVAL for a malformed string.  Thread-safe.
 */
TSL_API int tsl_device_check(const char *device, int *count, tsl_error *err);

/**
 * The storage's bytes on its target device (map_location applied): for the
 * CPU the same as tsl_storage_data; for another device the bytes are copied
 * there once (even when many threads ask at the same time) through its
 * backend, in chunks of at most 8 MiB through staging buffers (the
 * pipeline of tsl_model_upload; a backend without alloc_pinned gets one
 * copy_h2d of the whole storage), and *dptr is the backend's device
 * pointer, owned by the model (NULL for an empty storage when the
 * backend's alloc gave NULL for 0 bytes).
 * Thread-safe.
 */
TSL_API int tsl_storage_device_data(tsl_storage *s, void **dptr, size_t *size,
	tsl_error *err);

/** Upload options (tsl_model_upload).  Initialise with
 *  TSL_UPLOAD_OPTIONS_INIT; fields are only ever appended. */
#define TSL_UPLOAD_OPTIONS_VERSION 1
/** Flags (tsl_upload_options.flags). */
#define TSL_UPLOAD_RELEASE 0x1u  /* give each storage's CPU bytes back
	(tsl_storage_release) once they are staged; only when no other
	thread uses those storages' CPU bytes meanwhile */
typedef struct tsl_upload_options {
	unsigned int version;      /* TSL_UPLOAD_OPTIONS_VERSION */
	uint32_t flags;            /* TSL_UPLOAD_* */
	size_t staging_bytes;      /* per staging buffer; 0: 8 MiB; rounded
	                              up to 4 KiB, at most 1 GiB */
	unsigned int nbuffers;     /* staging buffers; 0: 2; 2..8 */
	unsigned int nthreads;     /* threads that fill a staging buffer
	                              (pieces of 512 KiB or more are split
	                              between them); 0 or 1: the calling
	                              thread alone; at most 16 */
	void *staging;             /* optional: the caller's staging memory,
	                              nbuffers * staging_bytes (staging_bytes
	                              then given, a multiple of 4096) from the
	                              target backend's alloc_pinned, used by
	                              this call alone instead of allocating
	                              (repeated uploads skip pinning memory
	                              again); still the caller's afterwards */
} tsl_upload_options;
#define TSL_UPLOAD_OPTIONS_INIT { TSL_UPLOAD_OPTIONS_VERSION, 0, 0, 0, 0, NULL }

/** What tsl_model_upload did (all zero before it starts). */
typedef struct tsl_upload_stats {
	uint64_t storages;         /* device copies made by this call */
	uint64_t bytes;            /* bytes copied to devices by this call */
	uint64_t copies;           /* copy calls issued to the backends */
	uint64_t staging_bytes;    /* staging memory allocated by the call:
	                              at most nbuffers * staging_bytes per
	                              target device, one device at a time */
	uint64_t waits;            /* times the host waited for a copy */
	int async;                 /* 1: asynchronous copies were used */
} tsl_upload_stats;

/**
 * Copy every storage of the model to its target device (map_location
 * applied; CPU storages are skipped), through a few staging buffers:
 * storages are cut into chunks that are copied from the archive mapping
 * into a staging buffer while the previous chunk goes to the device (with
 * copy_h2d_async and events or sync where the backend has them, else
 * copy_h2d).  Host memory held is at most nbuffers * staging_bytes beyond
 * what the storages hold: stored records are never copied whole on the
 * CPU, also those that tsl_storage_data would copy (misaligned ones, and
 * a big-endian archive's, byte-swapped while staged); a compressed record
 * is decoded first, as for tsl_storage_data (TSL_UPLOAD_RELEASE gives it
 * back once it is staged).  A backend without alloc_pinned copies from
 * the storage itself: a big-endian record is swapped into a copy of its
 * own first.
 * A storage already on its device (tsl_storage_device_data) is kept; one
 * that another thread is copying is waited for: each is copied once.
 * opt: NULL for the defaults.  stats: optional, filled on success and on
 * failure.  A backend failure is TSL_EDEVICE naming the record; the
 * storages being copied then are marked failed and their device memory is
 * freed (the storages already copied keep their copies).
 * Thread-safe, also with tsl_storage_device_data on the same model.
 */
TSL_API int tsl_model_upload(tsl_model *m, const tsl_upload_options *opt, tsl_upload_stats *stats, tsl_error *err);

/**
 * Read a storage's device copy back into host memory (n bytes from the
 * start, n <= its size), through the backend's copy_d2h; for a CPU target,
 * a copy of its CPU bytes.  The device copy must exist
 * (tsl_storage_device_data or tsl_model_upload): TSL_EINVAL if not,
 * TSL_EUNSUPPORTED when the backend has no copy_d2h.  Thread-safe.
 */
TSL_API int tsl_storage_device_read(tsl_storage *s, void *dst, size_t n, tsl_error *err);

/** The storage's target device string ("cpu", "cuda:0"). */
TSL_API const char *tsl_storage_device(const tsl_storage *s);

/* ------------------------------------------------------------------------ */
/* Traced inputs (_restore_shapes)                                           */
/* ------------------------------------------------------------------------ */

/**
 * The stored example inputs of a traced module (traced_inputs.pkl, written
 * by PyTorch 2.0+): a DICT from method name to a LIST of inputs (tensors
 * carry dtype and shape; their records hold no data), or NULL when the
 * archive has none.  Borrowed from m.
 */
TSL_API const tsl_value *tsl_model_traced_inputs(const tsl_model *m);

#ifdef __cplusplus
}
#endif
#endif /* TSLOAD_H */
