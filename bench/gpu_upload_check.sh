#!/bin/sh
# bench/gpu_upload_check.sh [ARCHIVE] - the device upload pipeline on a real
# GPU: uploads big_mlp_1g (default /var/tmp/tsload-bench/big_mlp_1g.pt, made
# by bench/gen_models.py) to cuda:0 with tsl_model_upload through the
# built-in CUDA backend (dlopen'ed libcudart; TSL_CUDART names another),
# reports its GB/s (staging pinned by each call, then pinned once by the
# caller: tsl_upload_options.staging) next to a plain cudaMemcpy from
# cudaMallocHost memory, and reads every storage back
# (tsl_storage_device_read, XXH3 against the CPU bytes).  Passes when every
# hash matches and the better upload reaches MIN_RATIO (default 0.8) of
# the cudaMemcpy bandwidth.
#
# Run from a configured and built tree (it builds bench/upload_bench if
# needed, and configures + builds first when there is no Makefile):
#   sh bench/gpu_upload_check.sh
# Environment: MIN_RATIO, RUNS (5), STAGING (bytes per staging buffer,
# default 8 MiB), BUFFERS (2), THREADS (threads filling the staging
# buffers, default 8: one host thread's memcpy is slower than PCIe 5),
# PROBE_MIB (256), TSL_CUDART.
# Exit status: 0 pass, 1 fail, 77 no GPU (or no archive and no torch).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-/var/tmp/tsload-bench/big_mlp_1g.pt}
cd "$top" || exit 1

if command -v nvidia-smi >/dev/null 2>&1; then
	nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv,noheader || true
else
	echo "gpu_upload_check: no nvidia-smi (trying the runtime anyway)"
fi

# the CUDA runtime: the built-in backend dlopens libcudart.so (or .so.13,
# .so.12, .so.11.0, /usr/local/cuda/lib64); when none of those is on the
# search path, look where toolkits and pip wheels put it
if [ -z "${TSL_CUDART:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcudart\.so'; then
	for lib in /usr/local/cuda*/lib64/libcudart.so* /usr/local/cuda*/targets/*/lib/libcudart.so* \
		/usr/lib/x86_64-linux-gnu/libcudart.so* /opt/*/lib*/libcudart.so* \
		$(find / -xdev -path '*nvidia/cuda_runtime/lib/libcudart.so*' 2>/dev/null | head -n 1); do
		if [ -f "$lib" ]; then
			TSL_CUDART=$lib
			export TSL_CUDART
			break
		fi
	done
fi
echo "gpu_upload_check: CUDA runtime: ${TSL_CUDART:-the default search path}"

if [ ! -f "$model" ]; then
	echo "gpu_upload_check: $model missing; making it with bench/gen_models.py"
	py=/usr/bin/python3
	[ -x "$py" ] || py=python3
	"$py" bench/gen_models.py --out "$(dirname "$model")" big_mlp_1g || {
		echo "gpu_upload_check: cannot make $model (needs torch)"; exit 77; }
fi

if [ ! -f Makefile ]; then
	{ autoreconf -fi >/dev/null && ./configure -q; } || {
		echo "gpu_upload_check: configure failed"; exit 1; }
fi
make -s -j"$(nproc 2>/dev/null || echo 2)" bench/upload_bench >/dev/null || {
	echo "gpu_upload_check: building bench/upload_bench failed"; exit 1; }

set -- --cuda --runs "${RUNS:-5}" --min-ratio "${MIN_RATIO:-0.8}" \
	--probe "${PROBE_MIB:-256}" --threads "${THREADS:-8}"
[ -n "${STAGING:-}" ] && set -- "$@" --staging "$STAGING"
[ -n "${BUFFERS:-}" ] && set -- "$@" --buffers "$BUFFERS"
./bench/upload_bench "$@" "$model"
rc=$?
case $rc in
0) echo "gpu_upload_check: PASS" ;;
77) echo "gpu_upload_check: SKIP (no usable CUDA device)" ;;
*) echo "gpu_upload_check: FAIL ($rc)" ;;
esac
exit $rc
