//! The trainer's two optimizer paths (`optimizer.rs`): flex takes the host path and every other
//! backend the device path; forced onto flex, the device path trains the tiny model to the host
//! path's numbers (losses, validation losses, adapter and optimizer-moment bytes bit for bit, the
//! logged grad norm to f64 rounding), with and without activation checkpointing; and a run
//! stopped and resumed on the device path — or stopped on one path and resumed on the other —
//! ends where the uninterrupted run does.

mod common;

use common::{sha256, Fixture};
use finefail_core::StopFlag;
use finefail_model::device::DeviceSpec;
use finefail_train::optimizer::{optimizer_path, OptimizerPath};
use finefail_train::{finetune, Event, FinetuneRequest, TrainError};
use std::path::Path;
use std::time::Duration;

/// One metrics row of kind `kind`, as (step, field) pairs.
fn rows(out: &Path, kind: &str, field: &str) -> Vec<f64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == kind)
        .map(|r| r[field].as_f64().unwrap())
        .collect()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn adapter_sha(out: &Path) -> String {
    sha256(&out.join("adapter/adapter_model.safetensors"))
}

/// sha256 of the last checkpoint's optimizer moments and adapter.
fn last_checkpoint(out: &Path) -> (usize, String, String) {
    let (step, dir) = finefail_train::checkpoint::list(&out.join("checkpoints"))
        .unwrap()
        .pop()
        .expect("a checkpoint");
    (
        step,
        sha256(&dir.join("optimizer.safetensors")),
        sha256(&dir.join("adapter/adapter_model.safetensors")),
    )
}

/// Runs `req` on `path` (`None`: the device's own choice) and returns the path its `Started`
/// event reported.
fn run(req: &FinetuneRequest, path: Option<OptimizerPath>) -> OptimizerPath {
    let mut r = req.clone();
    r.optimizer = path;
    let mut seen = None;
    finetune(&r, &mut |e| {
        if let Event::Started { optimizer, .. } = e {
            seen = Some(*optimizer);
        }
    })
    .unwrap();
    seen.expect("a Started event")
}

/// Largest |a − b| / |a| over two equally long series.
fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

/// The two runs under `a` and `b` give the same numbers: train and validation losses, adapter,
/// last checkpoint (moments and adapter) bit for bit; grad norms within 1e-12 relative.
///
/// Why the norm alone is not compared bit for bit: both paths sum the squared gradients in f64,
/// but the host in one pass over every tensor in name order and the device one sum per tensor
/// (a reduction), then across tensors — the same terms grouped differently, so the f64 results
/// may differ in the last bits (~1e-16 relative). Only that f64 goes into the metric; the
/// clipping factor is rounded to f32 before use, where such a difference vanishes, so the
/// updates (and everything after them) agree bit for bit.
fn same_numbers(a: &Path, b: &Path, what: &str) {
    assert_eq!(
        bits(&rows(a, "train", "loss")),
        bits(&rows(b, "train", "loss")),
        "{what}: train losses"
    );
    assert_eq!(
        bits(&rows(a, "val", "val_loss")),
        bits(&rows(b, "val", "val_loss")),
        "{what}: validation losses"
    );
    let (na, nb) = (rows(a, "train", "grad_norm"), rows(b, "train", "grad_norm"));
    let err = max_rel(&na, &nb);
    eprintln!("{what}: grad norms differ by at most {err:e} relative");
    assert!(
        err <= 1e-12,
        "{what}: grad norms differ by {err:e} relative"
    );
    assert_eq!(adapter_sha(a), adapter_sha(b), "{what}: adapter");
    assert_eq!(
        last_checkpoint(a),
        last_checkpoint(b),
        "{what}: last checkpoint"
    );
}

/// The clipping threshold: the fixture's grad norms are ~1–2.8, so some steps clip and some not.
const MAX_NORM: f64 = 1.6;

/// The fixture run with two micro-batches per step, LoRA dropout (reseeded per micro-step),
/// validation every 2 steps with `keep = best`, and clipping low enough to be active on some steps.
fn request(fx: &Fixture, out: &str) -> FinetuneRequest {
    let mut r = fx.request(out);
    r.settings.lora.dropout = 0.1;
    r.settings.train.micro_batch_size = Some(2);
    r.settings.train.eval_every = Some(2);
    r.settings.train.max_grad_norm = MAX_NORM;
    r.settings.train.weight_decay = 0.01;
    r.checkpoint_interval = None;
    r.stop = StopFlag::new();
    r
}

#[test]
fn flex_takes_the_host_path_and_other_backends_the_device_path() {
    assert_eq!(optimizer_path(DeviceSpec::Cpu), OptimizerPath::Host);
    assert_eq!(
        optimizer_path(DeviceSpec::parse("cpu").unwrap()),
        OptimizerPath::Host
    );
    for spec in ["cuda", "cuda:1", "tch-cpu", "tch-cuda:0"] {
        let s = DeviceSpec::parse(spec).unwrap();
        assert_eq!(optimizer_path(s), OptimizerPath::Device, "{spec}");
    }
}

#[test]
fn the_device_path_trains_to_the_host_paths_numbers() {
    let _serial = common::serial();
    let fx = Fixture::new();
    for checkpointing in [false, true] {
        let mut host = request(&fx, &format!("host-{checkpointing}"));
        host.settings.train.gradient_checkpointing = checkpointing;
        let mut device = host.clone();
        device.out_dir = fx.tmp.path().join(format!("device-{checkpointing}"));
        // A CPU request takes the host path unless told otherwise.
        assert_eq!(run(&host, None), OptimizerPath::Host);
        assert_eq!(
            run(&device, Some(OptimizerPath::Device)),
            OptimizerPath::Device
        );
        let norms = rows(&host.out_dir, "train", "grad_norm");
        assert!(
            norms.iter().any(|&n| n > MAX_NORM) && norms.iter().any(|&n| n <= MAX_NORM),
            "clipping should be active on some steps only: {norms:?}"
        );
        same_numbers(
            &host.out_dir,
            &device.out_dir,
            &format!("checkpointing {checkpointing}"),
        );
    }
}

/// Runs `req` on `path`, requesting a stop when step `at` reports; checks that step was
/// checkpointed.
fn stop_at(req: &FinetuneRequest, path: OptimizerPath, at: usize) {
    let mut r = req.clone();
    r.optimizer = Some(path);
    r.stop = StopFlag::new();
    let flag = r.stop.clone();
    let err = finetune(&r, &mut |e| {
        if let Event::Step(m) = e {
            if m.step == at {
                flag.request();
            }
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, TrainError::Stopped { step, .. } if step == at),
        "{err:?}"
    );
    assert_eq!(last_checkpoint(&r.out_dir).0, at);
}

#[test]
fn stopped_and_resumed_runs_on_the_device_path_end_where_uninterrupted_ones_do() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let mut whole = request(&fx, "whole-device");
    whole.settings.train.checkpoint_every = 50;
    run(&whole, Some(OptimizerPath::Device));
    let mut host_whole = whole.clone();
    host_whole.out_dir = fx.tmp.path().join("whole-host");
    run(&host_whole, Some(OptimizerPath::Host));
    same_numbers(&whole.out_dir, &host_whole.out_dir, "uninterrupted");

    // Checkpoints after every step (by time) change no number on the device path either.
    let mut timed = whole.clone();
    timed.out_dir = fx.tmp.path().join("timed-device");
    timed.checkpoint_interval = Some(Duration::ZERO);
    run(&timed, Some(OptimizerPath::Device));
    same_numbers(&whole.out_dir, &timed.out_dir, "checkpoint every step");

    // Stopped on request after step k (checkpointed at the stop), resumed; on the device path
    // throughout, and across paths both ways (the checkpoint holds the host form either way).
    let cases = [
        (OptimizerPath::Device, OptimizerPath::Device, 1),
        (OptimizerPath::Device, OptimizerPath::Device, 3),
        (OptimizerPath::Device, OptimizerPath::Host, 3),
        (OptimizerPath::Host, OptimizerPath::Device, 4),
    ];
    for (first, then, at) in cases {
        let mut r = whole.clone();
        r.out_dir = fx.tmp.path().join(format!("stop-{first:?}-{then:?}-{at}"));
        stop_at(&r, first, at);
        r.resume = true;
        assert_eq!(run(&r, Some(then)), then);
        let what = format!("stopped at {at} on {first:?}, resumed on {then:?}");
        same_numbers(&whole.out_dir, &r.out_dir, &what);
        // The resumed run's metrics hold every step once, the uninterrupted run's rows.
        assert_eq!(
            bits(&rows(&r.out_dir, "train", "loss")),
            bits(&rows(&whole.out_dir, "train", "loss")),
            "{what}"
        );
    }

    // Killed after step 3 (`stop_after_step`), resumed from the every-2-steps checkpoint.
    let mut killed = whole.clone();
    killed.settings.train.checkpoint_every = 2;
    killed.out_dir = fx.tmp.path().join("killed-device");
    killed.optimizer = Some(OptimizerPath::Device);
    let mut uninterrupted = killed.clone();
    uninterrupted.out_dir = fx.tmp.path().join("every2-device");
    finetune(&uninterrupted, &mut |_| {}).unwrap();
    killed.stop_after_step = Some(3);
    assert!(matches!(
        finetune(&killed, &mut |_| {}),
        Err(TrainError::Interrupted { step: 3 })
    ));
    assert_eq!(last_checkpoint(&killed.out_dir).0, 2);
    killed.stop_after_step = None;
    killed.resume = true;
    finetune(&killed, &mut |_| {}).unwrap();
    same_numbers(
        &uninterrupted.out_dir,
        &killed.out_dir,
        "killed after step 3",
    );
}

/// `finefail bench train` runs the trainer's step on either path: on the fixture model both give
/// the same losses bit for bit (3 steps, two micro-batches each, with and without
/// checkpointing), and the report names the path.
#[test]
fn bench_train_runs_either_path_to_the_same_losses() {
    let _serial = common::serial();
    let fx = Fixture::new();
    for checkpointing in [false, true] {
        let bench = |optimizer| {
            let opts = finefail_train::bench::TrainBenchOptions {
                model_dir: fx.model.clone(),
                batch: 4,
                seq: 8,
                steps: 3,
                micro_batch: 2,
                device: burn::tensor::Device::flex(),
                precision: finefail_model::precision::Precision::F32,
                checkpointing,
                optimizer,
            };
            finefail_train::bench::train_bench(&opts, |_, _, _| {}).unwrap()
        };
        let (host, device) = (bench(OptimizerPath::Host), bench(OptimizerPath::Device));
        assert_eq!(
            (host.optimizer.as_str(), device.optimizer.as_str()),
            ("host", "device")
        );
        assert_eq!(
            bits(&host.losses),
            bits(&device.losses),
            "checkpointing {checkpointing}"
        );
        assert!(
            host.losses[2] < host.losses[0],
            "the bench should train: {:?}",
            host.losses
        );
        assert!(device.optimizer_s > 0.0);
    }
}
