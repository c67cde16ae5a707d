#!/usr/bin/python3
"""Write tests/data/<fixture>.orders: the names torch.jit.load's module
gives for named_parameters, named_buffers, named_modules and state_dict, in
PyTorch's order.  tests/test_module.c checks tsload's iteration against them.

    /usr/bin/python3 tests/gen/gen_orders.py
"""
import os
import torch

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data")
FIXTURES = ["good-scripted-mlp.pt", "good-resnet-script.pt",
            "good-resnet-trace.pt", "good-mobilenet-script.pt",
            "good-lstm.pt", "good-gru.pt", "good-transformer-layer.pt",
            "good-views.pt", "good-dtypes.pt", "good-hooks.pt"]

for name in FIXTURES:
    m = torch.jit.load(os.path.join(data, name), map_location="cpu")
    out = {
        "named_parameters": [n for n, _ in m.named_parameters()],
        "named_buffers": [n for n, _ in m.named_buffers()],
        "named_modules": [n for n, _ in m.named_modules()],
        "state_dict": list(m.state_dict().keys()),
    }
    # plain text for the C test: "[section]" lines, then "= name" lines
    with open(os.path.join(data, name + ".orders"), "w") as f:
        for k, v in out.items():
            f.write(f"[{k}]\n")
            for n in v:
                f.write(f"= {n}\n")
    print(name, {k: len(v) for k, v in out.items()})
