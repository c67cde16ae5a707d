#!/usr/bin/python3
"""Write tests/data/dtypes.tsv: what PyTorch itself says about each dtype it
has, for the dtype table's test (tests/test_common.c).

    /usr/bin/python3 tests/gen/gen_dtypes.py > tests/data/dtypes.tsv

Columns: torch name, element size, Storage class name as torch.save pickles
it ("-" for none), numpy typestr of .numpy(); "-" where torch or numpy has
none.  Needs python3-torch (Debian); CI only reads the committed file.
"""
import sys
import warnings

import torch

warnings.simplefilter("ignore")
dtypes = sorted({getattr(torch, n) for n in dir(torch)
                 if isinstance(getattr(torch, n), torch.dtype)}, key=str)
print("# name\tsize\tstorage\tnumpy  (torch %s)" % torch.__version__)
for d in dtypes:
    t = torch.empty(0, dtype=d)
    try:
        storage = t.storage().pickle_storage_type()
    except KeyError:  # complex32 in torch 1.13: no Storage class
        storage = "-"
    try:
        np = t.numpy().dtype.str
    except (TypeError, RuntimeError):
        np = "-"
    print("%s\t%d\t%s\t%s" % (str(d)[len("torch."):], t.element_size(),
                              storage, np))
sys.stdout.flush()
