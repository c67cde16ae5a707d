#!/bin/sh
# The shared-corpus part of tests/test_conformance.sh on its own, so that make
# check reports it as SKIP (exit 77) when ../shared/corpus is absent.
TSL_CORPUS_PART=only
export TSL_CORPUS_PART
exec sh "$(dirname "$0")/test_conformance.sh"
