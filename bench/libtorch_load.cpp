// libtorch_load.cpp - tsbench's libtorch peer: times torch::jit::load.
//
//   tsbench-libtorch [--hold] [--idle] ARCHIVE
//
// Loads ARCHIVE once with torch::jit::load (CPU) and prints one JSON object
// on stdout: {"load_ms": T, "rss_before_kib": A, "rss_after_kib": B,
// "rss_load_kib": B - A, "minflt": F, "majflt": G}.  Only the load call
// is timed; libtorch's own start-up (static initialisers, operator
// registration) happens before main() and is not counted.  Built by bench/bench.am only where libtorch-dev
// is installed; tsbench runs it as a fresh process per measured run.
//
// For tsbench --fleet: --hold keeps the process (and the loaded module)
// alive after the result line until standard input reaches end of file;
// --idle loads nothing (prints {"idle": 1}): the fleet's baseline, libtorch
// linked and initialised.
#include <torch/script.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

static long rss_kib()
{
	long size = 0, resident = 0;
	FILE *f = std::fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (std::fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	std::fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Wait for end of file on standard input (tsbench closes the pipe once it
// has measured every process of the fleet).
static void hold_until_released()
{
	char buf[64];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
}

static double now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	bool hold = false, idle = false;
	int a = 1;

	for (; a < argc - 1; a++) {
		if (!std::strcmp(argv[a], "--hold"))
			hold = true;
		else if (!std::strcmp(argv[a], "--idle"))
			idle = true;
		else
			break;
	}
	if (a != argc - 1) {
		std::fprintf(stderr, "usage: %s [--hold] [--idle] ARCHIVE\n",
			argv[0]);
		return 2;
	}
	if (idle) {
		std::printf("{\"idle\": 1}\n");
		std::fflush(stdout);
		if (hold)
			hold_until_released();
		std::_Exit(std::ferror(stdout) ? 1 : 0);
	}
	try {
		struct rusage r0, r1;
		long rss0 = rss_kib();
		getrusage(RUSAGE_SELF, &r0);
		double t0 = now_ms();
		torch::jit::Module m = torch::jit::load(argv[a], torch::kCPU);
		double t1 = now_ms();
		getrusage(RUSAGE_SELF, &r1);
		long rss1 = rss_kib();
		std::printf("{\"load_ms\": %.6f, \"rss_before_kib\": %ld, "
			"\"rss_after_kib\": %ld, \"rss_load_kib\": %ld, "
			"\"minflt\": %ld, \"majflt\": %ld}\n",
			t1 - t0, rss0, rss1, rss1 - rss0, r1.ru_minflt - r0.ru_minflt,
			r1.ru_majflt - r0.ru_majflt);
		std::fflush(stdout);
		if (hold)
			hold_until_released();   // the module stays alive
		// leave without running destructors: freeing the model is not timed
		// and only costs wall time
		std::_Exit(0);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "tsbench-libtorch: %s: %s\n", argv[a], e.what());
		return 1;
	}
}
