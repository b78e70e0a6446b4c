"""A random Llama checkpoint of a given shape (config.json + model.safetensors, bf16), for measuring
memory and speed at sizes no registry here ships (docs/precision.md's ~1B row). Weights are
N(0, 0.02); norms are 1. Needs numpy only.

    python make_random_llama.py OUT_DIR [--hidden 2048 --layers 22 --ffn 5632 --heads 32 --kv-heads 4 --vocab 32000]
"""
import argparse
import json
import os
import struct

import numpy as np


def bf16_bytes(a):
    return (a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--layers", type=int, default=22)
    p.add_argument("--ffn", type=int, default=5632)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=32000)
    a = p.parse_args()
    d, hd = a.hidden, a.hidden // a.heads
    kv = a.kv_heads * hd
    shapes = {"model.embed_tokens.weight": [a.vocab, d], "model.norm.weight": [d],
              "lm_head.weight": [a.vocab, d]}
    for i in range(a.layers):
        pre = f"model.layers.{i}"
        shapes.update({
            f"{pre}.input_layernorm.weight": [d],
            f"{pre}.post_attention_layernorm.weight": [d],
            f"{pre}.self_attn.q_proj.weight": [d, d],
            f"{pre}.self_attn.k_proj.weight": [kv, d],
            f"{pre}.self_attn.v_proj.weight": [kv, d],
            f"{pre}.self_attn.o_proj.weight": [d, d],
            f"{pre}.mlp.gate_proj.weight": [a.ffn, d],
            f"{pre}.mlp.up_proj.weight": [a.ffn, d],
            f"{pre}.mlp.down_proj.weight": [d, a.ffn],
        })
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(0)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in shapes.items():
            if name.endswith("norm.weight"):
                f.write(bf16_bytes(np.ones(shape, np.float32)))
            else:
                f.write(bf16_bytes(rng.standard_normal(shape, np.float32) * 0.02))
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": d,
              "intermediate_size": a.ffn, "num_hidden_layers": a.layers,
              "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
              "vocab_size": a.vocab, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "max_position_embeddings": 2048, "tie_word_embeddings": False,
              "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    params = sum(int(np.prod(s)) for s in shapes.values())
    print(f"wrote {a.out}: {params / 1e9:.2f}B parameters")


if __name__ == "__main__":
    main()
