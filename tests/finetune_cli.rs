//! `finefail finetune` end to end on a tiny random model: a run killed with SIGKILL at a few points
//! and resumed with `--resume` ends with the same adapter bytes as an uninterrupted run; bad input
//! exits 2. Fixtures come from the fine-tuning crate's test generator.

#[path = "../crates/finefail-train/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SETS: [&str; 9] = [
    "lora.r=4",
    "lora.alpha=8",
    "train.batch_size=4",
    "train.micro_batch_size=2",
    "train.lr=1e-2",
    "train.max_steps=60",
    "train.checkpoint_every=7",
    "train.max_seq_len=128",
    "train.keep=\"last\"",
];

fn cmd(fx: &common::Fixture, out: &Path, size: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finefail"));
    c.args(["finetune", "--size", size, "--seed", "1"]);
    c.arg("--data")
        .arg(&fx.data)
        .arg("--model")
        .arg(&fx.model)
        .arg("--out")
        .arg(out);
    for s in SETS {
        c.args(["--set", s]);
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn steps_done(out: &Path) -> usize {
    std::fs::read_to_string(out.join("metrics.jsonl")).map_or(0, |t| t.matches("\"train\"").count())
}

#[test]
fn sigkill_and_resume_gives_the_same_adapter() {
    let fx = common::Fixture::new();
    let whole = fx.tmp.path().join("whole");
    let st = cmd(&fx, &whole, "8").status().unwrap();
    assert!(st.success());
    let want = common::sha256(&whole.join("adapter/adapter_model.safetensors"));

    let out = fx.tmp.path().join("killed");
    let mut killed_mid_run = 0;
    for kill_at in [3, 17, 40] {
        let mut child = cmd(&fx, &out, "8").arg("--resume").spawn().unwrap();
        let t0 = Instant::now();
        while steps_done(&out) < kill_at && t0.elapsed() < Duration::from_secs(60) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_run += 1;
        }
    }
    assert!(
        killed_mid_run >= 2,
        "the run finished before it could be killed"
    );
    let st = cmd(&fx, &out, "8").arg("--resume").status().unwrap();
    assert!(st.success());
    assert_eq!(
        common::sha256(&out.join("adapter/adapter_model.safetensors")),
        want
    );
}

#[test]
fn bad_input_exits_2() {
    let fx = common::Fixture::new();
    let out = cmd(&fx, &fx.tmp.path().join("big"), "99").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("pool"));
}

/// A missing input (the data directory, the base model) is the user's to fix: exit 2, one line on
/// stderr naming the path.
#[test]
fn a_missing_input_exits_2_naming_it() {
    let fx = common::Fixture::new();
    let missing = fx.tmp.path().join("no-such-dir");
    let out_dir = fx.tmp.path().join("out");
    let runs = ["--data", "--model"].map(|flag| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_finefail"));
        c.args(["finetune", "--size", "8"]);
        let data = if flag == "--data" { &missing } else { &fx.data };
        let model = if flag == "--model" {
            &missing
        } else {
            &fx.model
        };
        c.arg("--data").arg(data).arg("--model").arg(model);
        c.arg("--out").arg(&out_dir);
        (flag, c.output().unwrap())
    });
    for (flag, out) in runs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{flag}: {stderr}");
        assert!(
            stderr.contains(missing.to_str().unwrap()),
            "{flag}: {stderr}"
        );
    }
}

/// A Python with torch + transformers + peft: `FINEFAIL_PEFT_PYTHON`, else the benchmark peers' venv.
fn peft_python() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("FINEFAIL_PEFT_PYTHON")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| Path::new(&h).join(".cache/finefail/peers/venv/bin/python"))
        })?;
    let ok = Command::new(&p)
        .args(["-c", "import torch, transformers, peft"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(p)
}

/// The adapter `finefail finetune` writes loads in Python PEFT itself and gives our logits
/// (scripts/check_adapter_in_peft.py). Skipped, saying so, where no Python with PEFT exists (CI).
#[test]
fn adapter_loads_in_python_peft_when_available() {
    let Some(python) = peft_python() else {
        eprintln!("skipped: no Python with torch+transformers+peft (set FINEFAIL_PEFT_PYTHON)");
        return;
    };
    let fx = common::Fixture::new();
    let out = fx.tmp.path().join("run");
    let st = cmd(&fx, &out, "8").status().unwrap();
    assert!(st.success());
    let check = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_adapter_in_peft.py"))
        .arg("--model")
        .arg(&fx.model)
        .arg("--adapter")
        .arg(out.join("adapter"))
        .args(["--text", "the cat sat on the mat"])
        .arg("--finefail")
        .arg(env!("CARGO_BIN_EXE_finefail"))
        .args(["--tolerance", "1e-4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "PEFT check failed: {text}");
    eprintln!("{}", String::from_utf8_lossy(&check.stdout).trim());
}
