//! `finefail model convert` as a user runs it: the `--dtype` flag (bf16 by default, reported by
//! `model info`), and bad input — an unknown dtype, a tensor type the reader cannot dequantize —
//! as one line on stderr and exit code 2. And `model logits --compute-dtypes`: several compute
//! dtypes from one load.

#[path = "../crates/finefail-model/tests/common/gguf_writer.rs"]
mod gguf_writer;

#[path = "../crates/finefail-train/tests/common/mod.rs"]
#[allow(unused_imports)]
mod tiny;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finefail-model/tests/fixtures")
        .join(name)
}

fn finefail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit 2 and exactly one stderr line, which is returned.
fn one_line_exit_2(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn k_quant_gguf_converts_to_bf16_by_default_and_f32_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("kq.gguf");
    gguf_writer::write_kquant_llama(&gguf, &fixture("gguf_tiny_llama.gguf"), 14, 1.0);
    for (flag, name) in [(None, "bf16"), (Some("f32"), "f32")] {
        let out = dir.path().join(name);
        let mut args = vec!["model", "convert", "--gguf", s(&gguf), "--out", s(&out)];
        if let Some(f) = flag {
            args.extend(["--dtype", f]);
        }
        let o = finefail(&args);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            stdout.contains(&format!("parameters in {name}")),
            "{stdout}"
        );
        let o = finefail(&["model", "info", s(&out)]);
        let info = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            info.contains(&format!("dtype: {name} (12 tensors)")),
            "{info}"
        );
    }
}

#[test]
fn unknown_dtype_exits_2_naming_what_is_supported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let gguf = fixture("gguf_tiny_llama.gguf");
    let o = finefail(&[
        "model",
        "convert",
        "--gguf",
        s(&gguf),
        "--out",
        s(&out),
        "--dtype",
        "fp8",
    ]);
    let err = one_line_exit_2(&o);
    assert!(err.contains("--dtype") && err.contains("`fp8`"), "{err}");
    assert!(err.contains("bf16, f16, f32"), "{err}");
    assert!(!out.exists());
}

#[test]
fn unsupported_tensor_type_exits_2_naming_the_file_and_what_is_supported() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("iq4.gguf");
    let base = fixture("gguf_tiny_llama.gguf");
    gguf_writer::write_kquant_llama(&gguf, &base, gguf_writer::IQ2_XXS, 1.0);
    let out = dir.path().join("out");
    let o = finefail(&["model", "convert", "--gguf", s(&gguf), "--out", s(&out)]);
    let err = one_line_exit_2(&o);
    assert!(err.contains(s(&gguf)) && err.contains("IQ2_XXS"), "{err}");
    assert!(
        err.contains(
            "supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS"
        ),
        "{err}"
    );
    assert!(!out.exists());
}

/// `model info FILE.gguf` lists every tensor type the file stores and whether it is decoded, so a
/// llama.cpp mix's fallback types are seen before a conversion meets them.
#[test]
fn model_info_lists_the_tensor_types_of_a_gguf_file() {
    let dir = tempfile::tempdir().unwrap();
    let kq = dir.path().join("q6k.gguf");
    let base = fixture("gguf_tiny_llama.gguf");
    gguf_writer::write_kquant_llama(&kq, &base, 14, 1.0);
    let o = finefail(&["model", "info", s(&kq)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("architecture llama"), "{out}");
    let row = |ty: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(ty))
            .map(str::to_owned)
    };
    let q6k = row("Q6_K ").unwrap_or_else(|| panic!("no Q6_K row:\n{out}"));
    assert!(q6k.ends_with("decoded"), "{q6k}");
    // Every tensor is counted once across the rows.
    let total: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("tensors: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total:\n{out}"));
    let counted: usize = out
        .lines()
        .filter(|l| l.contains(" tensors "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        .sum();
    assert_eq!(counted, total, "{out}");

    let iq = dir.path().join("iq2.gguf");
    gguf_writer::write_kquant_llama(&iq, &base, gguf_writer::IQ2_XXS, 1.0);
    let o = finefail(&["model", "info", s(&iq)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let iq_row = out
        .lines()
        .find(|l| l.trim_start().starts_with("IQ2_XXS "))
        .unwrap_or_else(|| panic!("no IQ2_XXS row:\n{out}"));
    assert!(iq_row.contains("not decoded"), "{iq_row}");
}

/// `model logits --compute-dtypes f32,bf16` (one load, the GPU check's way) writes exactly the
/// files two runs with `--compute-dtype f32` and `--compute-dtype bf16` write, and the two differ;
/// an `--out` without `{compute}` or a dtype named twice is bad input (exit 2, nothing written).
#[test]
fn logits_for_several_compute_dtypes_come_from_one_load() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    tiny::write_tiny_model(&model, 7);
    let text = "what is the colour of the sky ?";
    let base = [
        "model",
        "logits",
        "--model",
        s(&model),
        "--text",
        text,
        "--dtype",
        "bf16",
    ];
    let run = |extra: &[&str]| {
        let o = finefail(&[&base[..], extra].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let pattern = dir.path().join("one.{compute}.npy");
    let ids = run(&["--out", s(&pattern), "--compute-dtypes", "f32,bf16"]);
    let read = |p: PathBuf| std::fs::read(p).unwrap();
    for c in ["f32", "bf16"] {
        let single = dir.path().join(format!("single.{c}.npy"));
        assert_eq!(run(&["--out", s(&single), "--compute-dtype", c]), ids);
        assert_eq!(
            read(dir.path().join(format!("one.{c}.npy"))),
            read(single),
            "{c}: one load vs its own run"
        );
    }
    assert_ne!(
        read(dir.path().join("one.f32.npy")),
        read(dir.path().join("one.bf16.npy"))
    );

    let plain = dir.path().join("bad.npy");
    for extra in [
        vec!["--out", s(&plain), "--compute-dtypes", "f32,bf16"],
        vec!["--out", s(&pattern), "--compute-dtypes", "bf16,bf16"],
        vec!["--out", s(&pattern), "--compute-dtypes", "f32,f8"],
    ] {
        let err = one_line_exit_2(&finefail(&[&base[..], &extra[..]].concat()));
        assert!(err.contains("--compute-dtypes"), "{err}");
    }
    assert!(!plain.exists());
}
