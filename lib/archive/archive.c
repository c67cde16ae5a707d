/*
 * archive.c - opening an archive from every kind of source, telling what
 * kind of file it is, and the public record API.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"

TSL_API const char *tsl_file_kind_name(tsl_file_kind kind)
{
	switch (kind) {
	case TSL_KIND_TORCHSCRIPT: return "TorchScript archive";
	case TSL_KIND_TORCHSCRIPT_LEGACY:
		return "legacy TorchScript archive (model.json, PyTorch 1.0-1.2)";
	case TSL_KIND_TORCH_SAVE: return "torch.save checkpoint (zip)";
	case TSL_KIND_TORCH_SAVE_LEGACY:
		return "torch.save checkpoint (legacy pickle format)";
	case TSL_KIND_FLATBUFFER: return "mobile FlatBuffer model";
	case TSL_KIND_PREVIEW:
		return "PyTorch 1.0 preview archive (PYTORCH1)";
	case TSL_KIND_ZIP: return "zip archive";
	case TSL_KIND_UNKNOWN: break;
	}
	return "unknown file";
}

/* Formats recognised by their first bytes (FORMAT.md section 1). */
static tsl_file_kind sniff(const uint8_t *b, uint64_t size)
{
	if (size >= 8 && memcmp(b, "PYTORCH1", 8) == 0)
		return TSL_KIND_PREVIEW;
	if (size >= 8 && memcmp(b + 4, "PTMF", 4) == 0)
		return TSL_KIND_FLATBUFFER;
	if (size >= 2 && b[0] == 0x80 && b[1] == 0x02)
		return TSL_KIND_TORCH_SAVE_LEGACY;
	return TSL_KIND_UNKNOWN;
}

static int not_torchscript(tsl_error *err, tsl_file_kind kind)
{
	const char *hint = "";

	switch (kind) {
	case TSL_KIND_PREVIEW:
		hint = ": the file is an unsupported archive format from the "
		       "preview release";
		break;
	case TSL_KIND_TORCH_SAVE_LEGACY:
	case TSL_KIND_TORCH_SAVE:
		hint = ": it was written by torch.save(), not torch.jit.save(); "
		       "load it with torch.load()";
		break;
	case TSL_KIND_FLATBUFFER:
		hint = ": FlatBuffer models are not supported";
		break;
	default:
		break;
	}
	return tsl__error(err, TSL_ENOTTORCHSCRIPT, NULL, 0,
		"not a TorchScript archive: this is a %s%s",
		tsl_file_kind_name(kind), hint);
}

static int parse_version(tsl_archive *ar, tsl_error *err)
{
	const char *name = ".data/version";
	const tsl_zip_entry *e = tsl__zip_find(ar->zip, name, strlen(name));
	const uint8_t *d;
	size_t len, i;
	uint64_t v = 0;
	int rc;

	if (!e) {
		name = "version";
		e = tsl__zip_find(ar->zip, name, strlen(name));
	}
	if (!e)
		return tsl__error(err, TSL_EFORMAT, "version", TSL_NO_OFFSET,
			"archive has no version record (neither .data/version "
			"nor version)");
	if (tsl__zip_usize(e) > 64)
		return tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e),
			tsl__zip_lho(e),
			"version record is %llu bytes long",
			(unsigned long long)tsl__zip_usize(e));
	rc = tsl__zip_read(ar->zip, e, &d, &len, err);
	if (rc)
		return rc;
	for (i = 0; i < len && d[i] >= '0' && d[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(d[i] - '0');
		if (v > 1000000)
			break;
	}
	if (i == 0 || v > 1000000)
		return tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e),
			tsl__zip_lho(e),
			"version record does not hold a decimal number");
	for (; i < len; i++)
		if (d[i] != '\n' && d[i] != '\r' && d[i] != ' ')
			return tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e),
				tsl__zip_lho(e),
				"version record has trailing bytes");
	ar->version = v;
	/* PyTorch 1.12-2.5: kMinSupportedFileFormatVersion 1, max 10 */
	if (v < 1)
		return tsl__error(err, TSL_EVERSION, TSL_ZIP_ENAME(e),
			tsl__zip_lho(e),
			"Attempted to read a PyTorch file with version %llu, but "
			"the minimum supported version for reading is 1",
			(unsigned long long)v);
	if (v > 10)
		return tsl__error(err, TSL_EVERSION, TSL_ZIP_ENAME(e),
			tsl__zip_lho(e),
			"Attempted to read a PyTorch file with version %llu, but "
			"the maximum supported version for reading is 10; your "
			"PyTorch installation may be too old",
			(unsigned long long)v);
	return TSL_OK;
}

static int parse_byteorder(tsl_archive *ar, tsl_error *err)
{
	const tsl_zip_entry *e = tsl__zip_find(ar->zip, "byteorder", 9);
	const uint8_t *d;
	size_t len;
	int rc;

	ar->big_endian = 0;
	if (!e)
		return TSL_OK;
	if (tsl__zip_usize(e) > 16)
		return tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e),
			tsl__zip_lho(e),
			"byteorder record is %llu bytes long",
			(unsigned long long)tsl__zip_usize(e));
	rc = tsl__zip_read(ar->zip, e, &d, &len, err);
	if (rc)
		return rc;
	while (len && (d[len - 1] == '\n' || d[len - 1] == ' '))
		len--;
	if (len == 6 && memcmp(d, "little", 6) == 0)
		ar->big_endian = 0;
	else if (len == 3 && memcmp(d, "big", 3) == 0)
		ar->big_endian = 1;
	else
		return tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e),
			tsl__zip_lho(e),
			"byteorder record is neither 'little' nor 'big'");
	return TSL_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is e an extra file, "<prefix>/extra/..."?  (Run for every record:
 * lengths first, from the entry.) */
static inline bool is_extra(const tsl_zip *z, const tsl_zip_entry *e)
{
	return tsl__zip_in_prefix(e) &&
		tsl__zip_name_len(e) > z->prefix_len + 1 + 6 &&
		memcmp(tsl__zip_rel_bytes(z, e), "extra/", 6) == 0;
}

static int list_extra(tsl_archive *ar, tsl_error *err)
{
	size_t i, n = 0;

	/* the storages' run is no extra file: not read */
	for (i = 0; (i = tsl__zip_past_run(ar->zip, i)) < ar->zip->n; i++) {
		if (is_extra(ar->zip, &ar->zip->entries[i]))
			n++;
	}
	if (!n)
		return TSL_OK;
	ar->extra = malloc(n * sizeof *ar->extra);
	if (!ar->extra)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	for (i = 0; (i = tsl__zip_past_run(ar->zip, i)) < ar->zip->n; i++) {
		const tsl_zip_entry *e = &ar->zip->entries[i];
		const char *rel;

		if (!is_extra(ar->zip, e))
			continue;
		/* the name after "extra/", NUL-terminated (made now: the
		 * list is handed out) */
		if (!(rel = tsl__zip_rel(ar->zip, e)))
			return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
				"out of memory");
		ar->extra[ar->nextra++] = rel + 6;
	}
	qsort(ar->extra, ar->nextra, sizeof *ar->extra, cmp_str);
	return TSL_OK;
}

static bool has(const tsl_archive *ar, const char *rel)
{
	return tsl__zip_find(ar->zip, rel, strlen(rel)) != NULL;
}

/* Is rel[0..len) a tensor storage's record (read only on demand)?  data/
 * (TorchScript, torch.save), constants/ (TorchScript constants), tensors/
 * (the legacy format), .data/ (serialization id and the like). */
static bool storage_record(const char *rel, size_t len)
{
	static const char *const dirs[] = { "data/", "constants/", "tensors/" };

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		size_t n = strlen(dirs[i]);

		if (len > n && memcmp(rel, dirs[i], n) == 0)
			return true;
	}
	return false;
}

/*
 * On a cold page cache the load reads the metadata records (data.pkl,
 * constants.pkl, code/, version...) page fault by page fault.  Ask for
 * them all at once: every record that is not a storage, in ranges merged
 * when they are less than 64 KiB apart, one madvise(WILLNEED) each.  On a
 * warm cache this costs a page-cache lookup per page.  PyTorch writes
 * them together (1.13: after the tensors, before the central directory),
 * so they are few ranges; measured at 3250dab with a scratch build that
 * asked for the archive's last 2 MiB: resnet50_script cold 10.3-11.4 ms
 * -> 5.3-5.4 ms (doc/PERFORMANCE.md, "Cold page cache").
 */
static void readahead_meta(tsl_archive *ar)
{
	const tsl_zip *z = ar->zip;
	uint64_t from = 0, to = 0;

	/* the storages' run is skipped whole, unread */
	for (size_t i = 0; (i = tsl__zip_past_run(z, i)) < z->n; i++) {
		const tsl_zip_entry *e = &z->entries[i];
		const char *rel = tsl__zip_rel_bytes(z, e);
		size_t len = tsl__zip_rel_len(z, e);
		uint64_t a, b;

		if (storage_record(rel, len))
			continue;
		a = tsl__zip_lho(e);
		/* the local header, its name and extra field (PyTorch pads
		 * it to 64-byte alignment), then the bytes */
		if (tsl__add_u64(a, 30 + (uint64_t)tsl__zip_name_len(e) + 64 +
			tsl__zip_csize(e),
			&b))
			continue;
		if (to && a <= to + (64u << 10) && b >= from) {
			if (a < from)
				from = a;
			if (b > to)
				to = b;
			continue;
		}
		if (to)
			tsl__zip_willneed(z, from, to - from);
		from = a;
		to = b;
	}
	if (to)
		tsl__zip_willneed(z, from, to - from);
}

#define TAIL_AHEAD ((uint64_t)256 << 10)

/* Index the bytes, tell the kind, read version and byte order. */
static int archive_init(tsl_archive *ar, tsl_error *err)
{
	tsl_file_kind k;
	int rc;

	/* On a cold page cache every step of the open waits for a read: the
	 * first bytes (the kind), the end record, the directory, the pickles.
	 * PyTorch writes the metadata at the end of the file, so ask at once
	 * for the first page and the last 256 KiB of a file we mapped, which
	 * usually covers a small model's metadata: two small reads in flight
	 * together, rather than the first page's fault reading around it
	 * (read_ahead_kb: up to 8 MiB) and the tail after that.  Not for a
	 * caller's buffer: its pages are the caller's business. */
	if (ar->map) {
		tsl__zip_willneed_range(ar->base, ar->size, 0, 4096);
		tsl__zip_willneed_range(ar->base, ar->size,
			ar->size > TAIL_AHEAD ? ar->size - TAIL_AHEAD : 0,
			TAIL_AHEAD);
	}
	k = sniff(ar->base, ar->size);

	if (k != TSL_KIND_UNKNOWN) {
		ar->kind = k;
		return not_torchscript(err, k);
	}
	rc = tsl__zip_open(&ar->zip, ar->base, ar->size, &ar->limits,
		ar->od ? &ar->od->fetch : NULL, err);
	if (rc) {
		if (rc == TSL_EFORMAT &&
			(ar->size < 4 || memcmp(ar->base, "PK", 2) != 0)) {
			char inner[sizeof err->message];

			/* err->message cannot be both source and target */
			snprintf(inner, sizeof inner, "%s",
				err ? err->message : "no central directory");
			return tsl__error(err, TSL_ENOTTORCHSCRIPT, NULL, 0,
				"not a TorchScript archive: not a zip file (%s)",
				inner);
		}
		return rc;
	}
	ar->zip->verify_crc = (ar->flags & TSL_OPEN_VERIFY_CRC) != 0;
	ar->zip->huge = ar->limits.huge_pages;
	if (ar->map)
		readahead_meta(ar);
	if (has(ar, "model.json"))
		ar->kind = TSL_KIND_TORCHSCRIPT_LEGACY;
	else if (has(ar, "constants.pkl"))
		ar->kind = TSL_KIND_TORCHSCRIPT;
	else if (has(ar, "data.pkl"))
		ar->kind = TSL_KIND_TORCH_SAVE;
	else
		ar->kind = TSL_KIND_ZIP;
	if (ar->kind == TSL_KIND_ZIP)
		return tsl__error(err, TSL_ENOTTORCHSCRIPT, NULL, TSL_NO_OFFSET,
			"not a TorchScript archive: a zip archive without "
			"data.pkl, constants.pkl or model.json under '%s/'",
			ar->zip->prefix);
	rc = parse_version(ar, err);
	if (rc)
		return rc;
	rc = parse_byteorder(ar, err);
	if (rc)
		return rc;
	return list_extra(ar, err);
}

static void archive_destroy(tsl_archive *ar)
{
	if (!ar)
		return;
	tsl__zip_free(ar->zip);
	free(ar->extra);
	if (ar->map)
		munmap(ar->map, ar->map_len);
	free(ar->copy);
	if (ar->fd >= 0)
		close(ar->fd);
	if (ar->od) {
		close(ar->od->fd);
		pthread_mutex_destroy(&ar->od->mu);
		free(ar->od->have);
		free(ar->od);
	}
	free(ar);
}

void tsl__archive_ref(tsl_archive *ar)
{
	atomic_fetch_add(&ar->refs, 1);
}

void tsl__archive_unref(tsl_archive *ar)
{
	if (ar && atomic_fetch_sub(&ar->refs, 1) == 1)
		archive_destroy(ar);
}

TSL_API void tsl_archive_free(tsl_archive *ar)
{
	tsl__archive_unref(ar);
}

static int archive_new(tsl_archive **out, const tsl_options *opts,
	tsl_error *err)
{
	tsl_archive *ar;
	int rc;

	ar = calloc(1, sizeof *ar);
	if (!ar)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	ar->refs = 1;
	ar->fd = -1;
	rc = tsl__limits_from_options(&ar->limits, opts, err);
	if (rc) {
		free(ar);
		return rc;
	}
	ar->flags = opts ? opts->flags : 0;
	*out = ar;
	return TSL_OK;
}

static int finish(tsl_archive **out, tsl_archive *ar, tsl_error *err)
{
	int rc = archive_init(ar, err);

	if (rc) {
		archive_destroy(ar);
		return rc;
	}
	*out = ar;
	return TSL_OK;
}

/* Read all of fd from offset 0 into a malloc'd buffer (TSL_OPEN_COPY). */
static int copy_fd(tsl_archive *ar, int fd, uint64_t size, tsl_error *err)
{
	uint64_t got = 0;

	if (size > SIZE_MAX)
		return tsl__error(err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"file too large to copy");
	ar->copy = malloc(size ? (size_t)size : 1);
	if (!ar->copy)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory copying %llu bytes",
			(unsigned long long)size);
	while (got < size) {
		ssize_t n = pread(fd, (char *)ar->copy + got,
			(size_t)(size - got), (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tsl__error_sys(err, TSL_EIO, errno, NULL,
				"reading the file");
		if (n == 0)
			return tsl__error(err, TSL_EIO, NULL, got,
				"file shrank while it was read");
		got += (uint64_t)n;
	}
	ar->base = ar->copy;
	ar->size = size;
	return TSL_OK;
}

static int map_fd(tsl_archive *ar, int fd, tsl_error *err)
{
	struct stat st;
	int mflags = MAP_PRIVATE;

	if (fstat(fd, &st) != 0)
		return tsl__error_sys(err, TSL_EIO, errno, NULL, "fstat");
	if (S_ISDIR(st.st_mode))
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"the path is a directory");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"not a regular file (use tsl_archive_open_reader for "
			"pipes and sockets)");
	if (st.st_size <= 0)
		return tsl__error(err, TSL_ENOTTORCHSCRIPT, NULL, 0,
			"not a TorchScript archive: the file is empty");
	if ((uint64_t)st.st_size > SIZE_MAX)
		return tsl__error(err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"file too large to map");
	if (ar->flags & TSL_OPEN_COPY)
		return copy_fd(ar, fd, (uint64_t)st.st_size, err);
#ifdef MAP_POPULATE
	if (ar->flags & TSL_OPEN_POPULATE)
		mflags |= MAP_POPULATE;
#endif
	ar->map = mmap(NULL, (size_t)st.st_size, PROT_READ, mflags, fd, 0);
	if (ar->map == MAP_FAILED) {
		ar->map = NULL;
		return tsl__error_sys(err, TSL_EIO, errno, NULL, "mmap");
	}
	ar->map_len = (size_t)st.st_size;
	ar->base = ar->map;
	ar->size = (uint64_t)st.st_size;
	/* kept to notice a file truncated under the mapping */
	ar->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return TSL_OK;
}

/* Does e's directory entry, with its name and (with extra) its extra
 * field, lie within the first size bytes of the file?  (A stand-in's is
 * not in the file: yes.)  Only what lies within is read. */
static bool entry_within(const tsl_archive *ar, const tsl_zip_entry *e,
	bool extra, uint64_t size)
{
	const tsl_zip *z = ar->zip;
	uint64_t at, end;

	if (!(e >= z->entries && e < z->entries + z->n))
		return true;
	at = (uint64_t)(e->cd - z->base);
	if (at + TSL_ZIP_CENTRAL_LEN > size)
		return false;
	end = at + TSL_ZIP_CENTRAL_LEN + tsl__zip_name_len(e) +
		(extra ? tsl__le16(e->cd + 30) : 0);
	return end <= size;
}

/* e's name into buf when its bytes lie within the first size bytes of the
 * file, else "#<index>". */
static const char *name_within(const tsl_archive *ar, const tsl_zip_entry *e,
	bool rel, uint64_t size, char *buf)
{
	const tsl_zip *z = ar->zip;

	if (!entry_within(ar, e, false, size)) {
		snprintf(buf, TSL_ZIP_NAME_BUF, "#%zu",
			(size_t)(e - z->entries));
		return buf;
	}
	return rel ? tsl__zip_name_buf(tsl__zip_rel_bytes(z, e),
		tsl__zip_rel_len(z, e), buf) :
		tsl__zip_name_buf(tsl__zip_name(e), tsl__zip_name_len(e), buf);
}

const char *tsl__archive_ename(const tsl_archive *ar, const tsl_zip_entry *e,
	bool rel, char *buf)
{
	struct stat st;
	uint64_t size = UINT64_MAX;

	/* a mapped file: is the name still in it? (an error path: the
	 * system call is cheap next to what failed) */
	if (ar->fd >= 0 && fstat(ar->fd, &st) == 0 &&
		(uint64_t)st.st_size < ar->size)
		size = (uint64_t)st.st_size;
	return name_within(ar, e, rel, size, buf);
}

int tsl__archive_check_size(const tsl_archive *ar, const tsl_zip_entry *e,
	tsl_error *err)
{
	char record[TSL_ZIP_NAME_BUF] = "";
	struct stat st;
	uint64_t size, off = 0;

	if (ar->fd < 0)
		return TSL_OK;
	if (fstat(ar->fd, &st) != 0)
		return tsl__error_sys(err, TSL_EIO, errno,
			e ? tsl__archive_ename(ar, e, false, record) : NULL,
			"fstat");
	size = (uint64_t)st.st_size;
	if (size >= ar->size)
		return TSL_OK;
	/* the record's name and offset, from its directory entry when that
	 * is still in the file; else "#<index>" at the entry's place */
	if (e) {
		name_within(ar, e, false, size, record);
		off = entry_within(ar, e, true, size) ? tsl__zip_lho(e) :
			(uint64_t)(e->cd - ar->zip->base);
	}
	return tsl__error(err, TSL_EIO, record, off,
		"the file shrank to %llu bytes after it was mapped (it was "
		"%llu): its data is gone; reopen it, or open with "
		"TSL_OPEN_COPY", (unsigned long long)size,
		(unsigned long long)ar->size);
}

TSL_API int tsl_archive_open_fd(tsl_archive **out, int fd,
	const tsl_options *opts, tsl_error *err)
{
	tsl_archive *ar;
	int rc;

	if (!out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"out is NULL");
	*out = NULL;
	if (fd < 0)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"bad file descriptor %d", fd);
	rc = archive_new(&ar, opts, err);
	if (rc)
		return rc;
	rc = map_fd(ar, fd, err);
	if (rc) {
		archive_destroy(ar);
		return rc;
	}
	return finish(out, ar, err);
}

/* Open path read-only: TSL_EINVAL for NULL, TSL_ENOTFOUND or TSL_EIO
 * naming it when open(2) fails. */
static int open_file(const char *path, int *fd, tsl_error *err)
{
	if (!path)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"path is NULL");
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		return tsl__error_sys(err, e == ENOENT ? TSL_ENOTFOUND : TSL_EIO,
			e, NULL, "cannot open '%s'", path);
	}
	return TSL_OK;
}

TSL_API int tsl_archive_open_path(tsl_archive **out, const char *path,
	const tsl_options *opts, tsl_error *err)
{
	int fd, rc;

	if (!out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"out is NULL");
	*out = NULL;
	rc = open_file(path, &fd, err);
	if (rc)
		return rc;
	rc = tsl_archive_open_fd(out, fd, opts, err);
	close(fd);
	return rc;
}

TSL_API int tsl_archive_open_buffer(tsl_archive **out, const void *data,
	size_t size, const tsl_options *opts, tsl_error *err)
{
	tsl_archive *ar;
	int rc;

	if (!out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"out is NULL");
	*out = NULL;
	if (!data && size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"data is NULL");
	rc = archive_new(&ar, opts, err);
	if (rc)
		return rc;
	ar->base = data ? data : (const uint8_t *)"";
	ar->size = size;
	return finish(out, ar, err);
}

#define OD_CHUNK ((uint64_t)1 << 14)   /* 16 KiB: fetch little */

/* Read chunks [off, off+len) from the reader into the memfd, once. */
static int od_fetch(void *payload, uint64_t off, uint64_t len, tsl_error *err)
{
	tsl_archive *ar = payload;
	struct tsl_ondemand *od = ar->od;
	char *buf = NULL;
	uint64_t c, c0, c1, end;
	int rc = TSL_OK;

	if (tsl__add_u64(off, len, &end) || end > ar->size)
		return tsl__error(err, TSL_EFORMAT, NULL, off,
			"range of %llu bytes at offset %llu lies outside the "
			"%llu-byte stream", (unsigned long long)len,
			(unsigned long long)off, (unsigned long long)ar->size);
	c0 = off / OD_CHUNK;
	c1 = (end + OD_CHUNK - 1) / OD_CHUNK;
	pthread_mutex_lock(&od->mu);
	for (c = c0; c < c1 && !rc; c++) {
		uint64_t at = c * OD_CHUNK, n = OD_CHUNK, got = 0;

		if (__atomic_load_n(&od->have[c], __ATOMIC_ACQUIRE))
			continue;
		if (at + n > ar->size)
			n = ar->size - at;
		if (!buf && !(buf = malloc(OD_CHUNK))) {
			rc = tsl__error(err, TSL_ENOMEM, NULL, at, "out of memory");
			break;
		}
		if (od->reader.seek(od->reader.payload, (int64_t)at, SEEK_SET) !=
			(int64_t)at) {
			rc = tsl__error(err, TSL_EIO, NULL, at,
				"reader's seek to %llu failed",
				(unsigned long long)at);
			break;
		}
		while (got < n) {
			int64_t r = od->reader.read(od->reader.payload, buf + got,
				(size_t)(n - got));

			if (r <= 0 || (uint64_t)r > n - got) {
				rc = tsl__error(err, TSL_EIO, NULL, at + got,
					"reader's read at %llu failed or ended early",
					(unsigned long long)(at + got));
				break;
			}
			got += (uint64_t)r;
		}
		if (!rc && pwrite(od->fd, buf, (size_t)n, (off_t)at) != (ssize_t)n)
			rc = tsl__error_sys(err, TSL_EIO, errno, NULL,
				"writing the on-demand spool");
		if (!rc)
			__atomic_store_n(&od->have[c], 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&od->mu);
	free(buf);
	return rc;
}

/* A seekable reader: the size from seek(END), a sparse memfd of that size
 * mapped shared, and chunks read into it on first use (the central
 * directory at open, records when they are read). */
static int open_reader_seekable(tsl_archive **out, const tsl_reader *reader,
	int64_t size, const tsl_options *opts, tsl_error *err)
{
	tsl_archive *ar;
	struct tsl_ondemand *od;
	int rc;

	rc = archive_new(&ar, opts, err);
	if (rc)
		return rc;
	od = calloc(1, sizeof *od);
	if (!od) {
		archive_destroy(ar);
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	}
	od->fd = -1;
	pthread_mutex_init(&od->mu, NULL);
	ar->od = od;
	od->reader = *reader;
	od->fetch.fn = od_fetch;
	od->fetch.payload = ar;
	od->nchunks = ((uint64_t)size + OD_CHUNK - 1) / OD_CHUNK;
	od->have = calloc(od->nchunks ? (size_t)od->nchunks : 1, 1);
	od->fd = memfd_create("tsload-reader", MFD_CLOEXEC);
	if (!od->have || od->fd < 0) {
		rc = od->fd < 0 ? tsl__error_sys(err, TSL_EIO, errno, NULL,
			"memfd_create") : tsl__error(err, TSL_ENOMEM, NULL,
			TSL_NO_OFFSET, "out of memory");
		archive_destroy(ar);
		return rc;
	}
	if (ftruncate(od->fd, (off_t)size) != 0) {
		rc = tsl__error_sys(err, TSL_EIO, errno, NULL, "ftruncate");
		archive_destroy(ar);
		return rc;
	}
	ar->map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, od->fd, 0);
	if (ar->map == MAP_FAILED) {
		ar->map = NULL;
		rc = tsl__error_sys(err, TSL_EIO, errno, NULL, "mmap");
		archive_destroy(ar);
		return rc;
	}
	ar->map_len = (size_t)size;
	ar->base = ar->map;
	ar->size = (uint64_t)size;
	{
		/* the first bytes tell non-zip formats apart */
		rc = od_fetch(ar, 0, size < 8 ? (uint64_t)size : 8, err);
		if (rc) {
			archive_destroy(ar);
			return rc;
		}
	}
	return finish(out, ar, err);
}

/* A stream that cannot seek: spooled once, raw, into an anonymous file
 * which is then mapped like a path. */
TSL_API int tsl_archive_open_reader(tsl_archive **out,
	const tsl_reader *reader, const tsl_options *opts, tsl_error *err)
{
	char buf[1 << 16];
	int fd, rc;

	if (!out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"out is NULL");
	*out = NULL;
	if (!reader || !reader->read)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"reader has no read callback");
	if (reader->seek) {
		int64_t size = reader->seek(reader->payload, 0, SEEK_END);

		if (size == 0)
			return tsl__error(err, TSL_ENOTTORCHSCRIPT, NULL, 0,
				"not a TorchScript archive: the stream is empty");
		if (size > 0 && (uint64_t)size <= SIZE_MAX)
			return open_reader_seekable(out, reader, size, opts, err);
		/* seek failed: treat it as a stream from where it is */
	}
	fd = memfd_create("tsload-spool", MFD_CLOEXEC);
	if (fd < 0)
		return tsl__error_sys(err, TSL_EIO, errno, NULL, "memfd_create");
	for (;;) {
		int64_t n = reader->read(reader->payload, buf, sizeof buf);
		size_t off = 0;

		if (n < 0) {
			rc = tsl__error_sys(err, TSL_EIO, errno, NULL,
				"reader's read failed");
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > sizeof buf) {
			close(fd);
			return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
				"reader returned more bytes than asked for");
		}
		while (off < (size_t)n) {
			ssize_t w = write(fd, buf + off, (size_t)n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = tsl__error_sys(err, TSL_EIO, errno, NULL,
					"spooling the stream");
				close(fd);
				return rc;
			}
			off += (size_t)w;
		}
	}
	rc = tsl_archive_open_fd(out, fd, opts, err);
	close(fd);
	return rc;
}

TSL_API int tsl_detect_path(const char *path, tsl_file_kind *kind,
	tsl_error *err)
{
	tsl_archive *ar;
	tsl_error e2;
	int fd, rc;

	if (!kind)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"kind is NULL");
	*kind = TSL_KIND_UNKNOWN;
	rc = open_file(path, &fd, err);
	if (rc)
		return rc;
	rc = archive_new(&ar, NULL, err);
	if (rc) {
		close(fd);
		return rc;
	}
	rc = map_fd(ar, fd, &e2);
	close(fd);
	if (rc == TSL_OK)
		rc = archive_init(ar, &e2);
	/* archive_init sets ar->kind as soon as it knows it (sniffed, or
	 * from the records), before the version or byte order can fail; no
	 * guessing from message texts ("not a zip archive" contains
	 * "a zip archive") */
	if (rc == TSL_OK || rc == TSL_ENOTTORCHSCRIPT ||
		ar->kind != TSL_KIND_UNKNOWN) {
		*kind = ar->kind;
		rc = TSL_OK;
	} else if (err) {
		*err = e2;
	}
	archive_destroy(ar);
	return rc;
}

TSL_API tsl_file_kind tsl_archive_kind(const tsl_archive *ar)
{
	return ar ? ar->kind : TSL_KIND_UNKNOWN;
}

TSL_API const char *tsl_archive_prefix(const tsl_archive *ar)
{
	return ar && ar->zip ? ar->zip->prefix : "";
}

TSL_API uint64_t tsl_archive_format_version(const tsl_archive *ar)
{
	return ar ? ar->version : 0;
}

TSL_API int tsl_archive_big_endian(const tsl_archive *ar)
{
	return ar ? ar->big_endian : 0;
}

TSL_API uint64_t tsl_archive_size(const tsl_archive *ar)
{
	return ar ? ar->size : 0;
}

TSL_API size_t tsl_archive_record_count(const tsl_archive *ar)
{
	return ar && ar->zip ? ar->zip->n : 0;
}

TSL_API int tsl_archive_record(const tsl_archive *ar, size_t index,
	tsl_record_info *out)
{
	const tsl_zip_entry *e;

	if (!ar || !out || !ar->zip || index >= ar->zip->n)
		return TSL_EINVAL;
	e = &ar->zip->entries[index];
	out->name = tsl__zip_rel(ar->zip, e);   /* a copy made on demand */
	if (!out->name)
		return TSL_ENOMEM;
	out->method = tsl__zip_method(e);
	out->crc32 = tsl__zip_crc32(e);
	out->compressed_size = tsl__zip_csize(e);
	out->size = tsl__zip_usize(e);
	out->header_offset = tsl__zip_lho(e);
	return TSL_OK;
}

TSL_API int tsl_archive_find(const tsl_archive *ar, const char *name,
	size_t *index)
{
	const tsl_zip_entry *e;

	if (!ar || !name || !ar->zip)
		return TSL_EINVAL;
	e = tsl__zip_find(ar->zip, name, strlen(name));
	if (!e)
		return TSL_ENOTFOUND;
	if (index)
		*index = (size_t)(e - ar->zip->entries);
	return TSL_OK;
}

TSL_API int tsl_archive_record_data_offset(tsl_archive *ar, size_t index,
	uint64_t *out, tsl_error *err)
{
	if (!ar || !out || !ar->zip || index >= ar->zip->n)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"bad archive or record index");
	return tsl__zip_data_offset(ar->zip, &ar->zip->entries[index], out,
		err);
}

TSL_API int tsl_archive_record_data(tsl_archive *ar, size_t index,
	const void **data, size_t *size, tsl_error *err)
{
	const uint8_t *d;
	size_t n;
	int rc;

	if (!ar || !data || !size || !ar->zip || index >= ar->zip->n)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"bad archive or record index");
	rc = tsl__zip_read(ar->zip, &ar->zip->entries[index], &d, &n, err);
	if (rc)
		return rc;
	*data = d;
	*size = n;
	return TSL_OK;
}

/* tsl__archive_record (owned NULL: the archive's cached copy) and
 * tsl__archive_record_transient (*owned: a decoded copy of the caller's,
 * or NULL) in one. */
static int record_read(tsl_archive *ar, const char *rel, size_t len,
	tsl_record *out, void **owned, tsl_error *err)
{
	const tsl_zip_entry *e = ar->zip ? tsl__zip_find(ar->zip, rel, len) :
		NULL;
	uint64_t off;
	bool mine = false;
	int rc;

	if (owned)
		*owned = NULL;
	if (!e)
		return TSL_ENOTFOUND;
	rc = owned ? tsl__zip_read_transient(ar->zip, e, &out->data,
		&out->len, &mine, err) :
		tsl__zip_read(ar->zip, e, &out->data, &out->len, err);
	if (rc)
		return rc;
	if (mine)
		*owned = (void *)(uintptr_t)out->data;
	/* made once per record, on demand, kept with the index: a load
	 * reads a few records by name (data.pkl, class sources) */
	out->name = tsl__zip_cname(ar->zip, e);
	if (!out->name) {
		if (mine)
			tsl__zip_private_free(ar->zip, e, *owned);
		if (owned)
			*owned = NULL;
		return tsl__error(err, TSL_ENOMEM, TSL_ZIP_ENAME(e),
			TSL_NO_OFFSET, "out of memory");
	}
	out->file_offset = TSL_NO_OFFSET;
	if (tsl__zip_method(e) == TSL_ZIP_STORED &&
		tsl__zip_data_offset(ar->zip, e, &off, NULL) == TSL_OK)
		out->file_offset = off;
	return TSL_OK;
}

int tsl__archive_record(tsl_archive *ar, const char *rel, size_t len,
	tsl_record *out, tsl_error *err)
{
	return record_read(ar, rel, len, out, NULL, err);
}

int tsl__archive_record_transient(tsl_archive *ar, const char *rel,
	size_t len, tsl_record *out, void **owned, tsl_error *err)
{
	return record_read(ar, rel, len, out, owned, err);
}

void tsl__archive_record_drop(tsl_archive *ar, const char *rel, size_t len,
	void *owned)
{
	if (owned)
		tsl__zip_private_free(ar->zip, tsl__zip_find(ar->zip, rel, len),
			owned);
}

bool tsl__archive_record_size(const tsl_archive *ar, const char *rel,
	size_t len, uint64_t *size)
{
	const tsl_zip_entry *e = ar->zip ? tsl__zip_find(ar->zip, rel, len) :
		NULL;

	if (e && size)
		*size = tsl__zip_usize(e);
	return e != NULL;
}

size_t tsl__archive_nrecords(const tsl_archive *ar)
{
	return ar->zip ? ar->zip->n : 0;
}

int tsl__archive_read(tsl_archive *ar, const char *rel, const uint8_t **data,
	size_t *len, tsl_error *err)
{
	const tsl_zip_entry *e = tsl__zip_find(ar->zip, rel, strlen(rel));

	if (!e)
		return tsl__error(err, TSL_ENOTFOUND, rel, TSL_NO_OFFSET,
			"archive has no record '%s/%s'", ar->zip->prefix, rel);
	return tsl__zip_read(ar->zip, e, data, len, err);
}

TSL_API int tsl_archive_read(tsl_archive *ar, const char *name,
	const void **data, size_t *size, tsl_error *err)
{
	const uint8_t *d;
	size_t n;
	int rc;

	if (!ar || !name || !data || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	rc = tsl__archive_read(ar, name, &d, &n, err);
	if (rc)
		return rc;
	*data = d;
	*size = n;
	return TSL_OK;
}

TSL_API size_t tsl_archive_extra_count(const tsl_archive *ar)
{
	return ar ? ar->nextra : 0;
}

TSL_API const char *tsl_archive_extra_name(const tsl_archive *ar, size_t i)
{
	return ar && i < ar->nextra ? ar->extra[i] : NULL;
}

TSL_API int tsl_archive_extra_read(tsl_archive *ar, const char *name,
	const void **data, size_t *size, tsl_error *err)
{
	char rel[4096];
	int n;

	if (!ar || !name || !data || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	n = snprintf(rel, sizeof rel, "extra/%s", name);
	if (n < 0 || (size_t)n >= sizeof rel)
		return tsl__error(err, TSL_ENOTFOUND, NULL, TSL_NO_OFFSET,
			"no extra file '%s'", name);
	return tsl_archive_read(ar, rel, data, size, err);
}
