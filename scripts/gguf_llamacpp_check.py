#!/usr/bin/env python3
"""Helper of scripts/gguf-llamacpp-check.sh (issue 27's end-to-end check). Runs in the peer venv
(~/.cache/finefail/peers/llamacpp: llama-cpp-python, gguf, numpy, safetensors), never in the repo.

  quantize IN OUT TYPE    llama.cpp's own quantizer (llama_model_quantize with
                          llama_model_quantize_default_params(), allow_requantize = True); TYPE is
                          Q4_K_M, Q5_K_M, Q3_K_M, Q6_K, ... (LLAMA_FTYPE_MOSTLY_<TYPE>)
  types FILE              tensor-type counts of FILE as gguf-py reads them (JSON)
  compare FILE IDS NPY    independent reference: gguf-py's dequantize of every tensor of FILE, q/k
                          rows un-permuted in numpy, and the float64 numpy Llama forward of
                          crates/finefail-model/tests/fixtures/make_tiny_models.py on the token ids
                          IDS (comma-separated); compared with finefail's logits NPY [tokens, vocab].
                          Prints one JSON line: max_abs, max_ref, rel = max_abs / max_ref, argmax agreement.
"""

import collections
import ctypes
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "crates", "finefail-model", "tests", "fixtures"))


def quantize(src, dst, kind):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if rc != 0:
        sys.exit(f"llama_model_quantize({kind}) returned {rc}")


def types(path):
    import gguf

    r = gguf.GGUFReader(path)
    c = collections.Counter(t.tensor_type.name for t in r.tensors)
    print(json.dumps(dict(sorted(c.items()))))


def field(r, key):
    f = r.fields[key]
    v = f.parts[f.data[0]]
    return v.tolist()[0] if v.dtype != np.uint8 else bytes(v).decode()


def unpermute(w, n_head):
    """Inverse of llama.cpp's convert permute, which is
    w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)."""
    rows, cols = w.shape
    return w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


HF = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def reference_weights(path):
    import gguf
    from gguf.quants import dequantize

    r = gguf.GGUFReader(path)
    arch = field(r, "general.architecture")
    assert arch == "llama", arch
    cfg = {
        "model_type": "llama",
        "hidden_size": field(r, "llama.embedding_length"),
        "num_attention_heads": field(r, "llama.attention.head_count"),
        "num_key_value_heads": field(r, "llama.attention.head_count_kv"),
        "num_hidden_layers": field(r, "llama.block_count"),
        "rms_norm_eps": field(r, "llama.attention.layer_norm_rms_epsilon"),
        "rope_theta": field(r, "llama.rope.freq_base") if "llama.rope.freq_base" in r.fields else 10000.0,
    }
    w = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        a = a.reshape(tuple(int(x) for x in reversed(t.shape.tolist())))
        name = t.name
        if name == "token_embd.weight":
            w["model.embed_tokens.weight"] = a
        elif name == "output_norm.weight":
            w["model.norm.weight"] = a
        elif name == "output.weight":
            w["lm_head.weight"] = a
        else:
            _, i, kind, suffix = name.split(".")
            if kind == "attn_q":
                a = unpermute(a, cfg["num_attention_heads"])
            elif kind == "attn_k":
                a = unpermute(a, cfg["num_key_value_heads"])
            w[f"model.layers.{i}.{HF[kind]}.{suffix}"] = a
    cfg["tie_word_embeddings"] = "lm_head.weight" not in w
    return cfg, w


def compare(path, ids, npy):
    from make_tiny_models import forward

    cfg, w = reference_weights(path)
    tokens = [int(x) for x in ids.split(",")]
    ref = forward(cfg, w, tokens)
    got = np.load(npy).astype(np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    d = np.abs(got - ref)
    out = {
        "tokens": len(tokens),
        "max_abs": float(d.max()),
        "max_ref": float(np.abs(ref).max()),
        "rel": float(d.max() / np.abs(ref).max()),
        "argmax_agree": f"{int((got.argmax(-1) == ref.argmax(-1)).sum())}/{len(tokens)}",
    }
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"quantize": quantize, "types": types, "compare": compare}[cmd](*args)
