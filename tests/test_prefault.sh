#!/bin/sh
# The conformance checks again with the prefault helper forced on for every
# load and for every block, however small (TSL_PREFAULT=1; lib/common/
# prefault.c): each archive is loaded while the helper reads the pages
# being written, and every dump must still equal libtorch's.  The real
# corpus (../shared/corpus/real) is checked too when it is there.
set -u
d=$(dirname "$0")
TSL_PREFAULT=1
export TSL_PREFAULT
sh "$d/test_conformance.sh" || exit 1
TSL_CORPUS_PART=only sh "$d/test_conformance.sh"
rc=$?
[ "$rc" -eq 77 ] && exit 0   # no corpus: the fixtures were checked
exit "$rc"
