/* error.c - filling tsl_error, status names. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static void set_record(tsl_error *err, const char *record)
{
	size_t n;

	if (!record) {
		err->record[0] = '\0';
		return;
	}
	n = strlen(record);
	if (n >= sizeof err->record)
		n = sizeof err->record - 1;
	memcpy(err->record, record, n);
	err->record[n] = '\0';
}

void tsl__error_name_record(tsl_error *err, const char *record)
{
	if (err && !err->record[0])
		set_record(err, record);
}

void tsl__error_clear(tsl_error *err)
{
	if (!err)
		return;
	err->code = TSL_OK;
	err->sys_errno = 0;
	err->offset = TSL_NO_OFFSET;
	err->record[0] = '\0';
	err->message[0] = '\0';
}

int tsl__error_va(tsl_error *err, int code, const char *record,
	uint64_t offset, const char *prefix, const char *fmt, va_list ap)
{
	size_t n = 0;

	if (!err)
		return code;
	err->code = code;
	err->sys_errno = 0;
	err->offset = offset;
	set_record(err, record);
	if (prefix) {
		n = strlen(prefix);
		if (n >= sizeof err->message)
			n = sizeof err->message - 1;
		memcpy(err->message, prefix, n);
	}
	vsnprintf(err->message + n, sizeof err->message - n, fmt, ap);
	return code;
}

int tsl__error(tsl_error *err, int code, const char *record, uint64_t offset,
	const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tsl__error_va(err, code, record, offset, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int tsl__error_sys(tsl_error *err, int code, int errnum, const char *record,
	const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return code;
	va_start(ap, fmt);
	tsl__error_va(err, code, record, TSL_NO_OFFSET, NULL, fmt, ap);
	va_end(ap);
	err->sys_errno = errnum;
	n = strlen(err->message);
	if (n < sizeof err->message)
		snprintf(err->message + n, sizeof err->message - n, ": %s",
			strerror(errnum));
	return code;
}

TSL_API const char *tsl_status_name(int status)
{
	switch (status) {
	case TSL_OK: return "TSL_OK";
	case TSL_EINVAL: return "TSL_EINVAL";
	case TSL_ENOMEM: return "TSL_ENOMEM";
	case TSL_EIO: return "TSL_EIO";
	case TSL_EFORMAT: return "TSL_EFORMAT";
	case TSL_ENOTFOUND: return "TSL_ENOTFOUND";
	case TSL_ELIMIT: return "TSL_ELIMIT";
	case TSL_EUNSUPPORTED: return "TSL_EUNSUPPORTED";
	case TSL_EVERSION: return "TSL_EVERSION";
	case TSL_ENOTTORCHSCRIPT: return "TSL_ENOTTORCHSCRIPT";
	case TSL_EDEVICE: return "TSL_EDEVICE";
	case TSL_ETYPE: return "TSL_ETYPE";
	case TSL_EUNSAFE: return "TSL_EUNSAFE";
	case TSL_WNOTRACEDINPUTS: return "TSL_WNOTRACEDINPUTS";
	default: return "TSL_E?";
	}
}

TSL_API const char *tsl_version(void)
{
	return TSL_VERSION_STRING;
}
