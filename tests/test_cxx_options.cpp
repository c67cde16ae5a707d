/*
 * test_cxx_options.cpp - the public header from C++ (built as C++11 with
 * -Wall -Wextra -pedantic, every warning an error here): TSL_OPTIONS_INIT
 * and zero-initialised options compile without a warning and load a model
 * with the defaults.  Before C++20, TSL_OPTIONS_INIT's designated
 * initializer made g++ and clang++ warn (an error under -Werror).
 */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic error "-Wall"
#pragma GCC diagnostic error "-Wextra"
#pragma GCC diagnostic error "-Wpedantic"
#endif

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tsload.h"

static tsl_options file_scope = TSL_OPTIONS_INIT;

static int load_with(const char *what, const std::string &path,
	const tsl_options *o)
{
	tsl_model *m = NULL;
	tsl_error err;
	int rc = tsl_load_path(&m, path.c_str(), o, &err);

	if (rc != TSL_OK) {
		std::fprintf(stderr, "FAIL %s: %s\n", what, err.message);
		return 1;
	}
	if (!tsl_model_root(m)) {
		std::fprintf(stderr, "FAIL %s: no root module\n", what);
		tsl_model_free(m);
		return 1;
	}
	tsl_model_free(m);
	std::printf("ok %s\n", what);
	return 0;
}

int main()
{
	const char *dir = std::getenv("TSL_TEST_DATA");
	std::string path = std::string(dir ? dir : "tests/data") +
		"/good-scripted-mlp.pt";
	tsl_options init = TSL_OPTIONS_INIT;
	tsl_options zero{};
	tsl_options zero98 = tsl_options();
	int fails = 0;

	if (init.version != TSL_OPTIONS_VERSION ||
		file_scope.version != TSL_OPTIONS_VERSION || zero.version != 0) {
		std::fprintf(stderr, "FAIL versions %u %u %u\n", init.version,
			file_scope.version, zero.version);
		return 1;
	}
	fails += load_with("TSL_OPTIONS_INIT", path, &init);
	fails += load_with("file-scope TSL_OPTIONS_INIT", path, &file_scope);
	fails += load_with("tsl_options o{}", path, &zero);
	fails += load_with("tsl_options()", path, &zero98);
	return fails ? 1 : 0;
}
