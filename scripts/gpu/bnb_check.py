#!/usr/bin/env python3
"""Whether bitsandbytes works here, for the NF4 section of scripts/gpu/device-check.sh.

Imports it (from PYTHONPATH, where device-check.sh puts the packed one for this command alone), runs an
NF4 quantize/dequantize round trip on the device, and builds transformers' BitsAndBytesConfig as
scripts/bench/peft_train.py does. Exit 0 when all of that works.

    bnb_check.py cuda:0
"""
import sys


def main():
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    import torch
    import bitsandbytes
    import bitsandbytes.functional as F
    import peft  # noqa: F401  (PEFT imports bitsandbytes itself once it is findable)
    import transformers

    x = torch.randn(256, 256, device=device, dtype=torch.bfloat16)
    q, state = F.quantize_4bit(x, quant_type="nf4")
    y = F.dequantize_4bit(q, state)
    err = ((y.float() - x.float()).abs().max() / x.float().abs().max()).item()
    transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                    bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=False)
    print(f"bnb_check: bitsandbytes {bitsandbytes.__version__} from {bitsandbytes.__file__}: NF4 round trip "
          f"on {device}, relative error {err:.4f}", file=sys.stderr)
    if not err < 0.25:
        sys.exit(f"bnb_check: NF4 round-trip error {err} is too large")


if __name__ == "__main__":
    main()
