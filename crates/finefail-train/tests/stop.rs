//! Stop requests (what Ctrl-C sets, [`FinetuneRequest::stop`]) and checkpoints by time: a run
//! stopped between two optimizer steps checkpoints that step, and resuming it ends bit-identical
//! to a run that never stopped; checkpoints written by time change no number.

mod common;

use common::{sha256, Fixture};
use finefail_core::StopFlag;
use finefail_train::{finetune, Event, FinetuneRequest, TrainError, TrainSummary};
use std::path::Path;
use std::time::Duration;

fn adapter_sha(out: &Path) -> String {
    sha256(&out.join("adapter/adapter_model.safetensors"))
}

fn train_losses(out: &Path) -> Vec<u64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "train")
        .map(|r| r["loss"].as_f64().unwrap().to_bits())
        .collect()
}

fn checkpoint_steps(out: &Path) -> Vec<usize> {
    finefail_train::checkpoint::list(&out.join("checkpoints"))
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// Runs `req` with its own flag, requesting a stop when optimizer step `at` reports; returns the
/// error and the checkpoint events seen.
fn stop_at(req: &FinetuneRequest, at: usize) -> (TrainError, Vec<usize>) {
    let mut r = req.clone();
    r.stop = StopFlag::new();
    let flag = r.stop.clone();
    let mut checkpoints = Vec::new();
    let err = finetune(&r, &mut |e| match e {
        Event::Step(m) if m.step == at => flag.request(),
        Event::Checkpoint { step } => checkpoints.push(*step),
        _ => {}
    })
    .unwrap_err();
    (err, checkpoints)
}

/// A request whose only checkpoints are the last step's (checkpoint_every 50, the default, over 6
/// steps; none by time), with dropout so that resuming must reproduce the reseeded masks.
fn request(fx: &Fixture, out: &str) -> FinetuneRequest {
    let mut r = fx.request(out);
    r.settings.lora.dropout = 0.1;
    r.settings.train.micro_batch_size = Some(2);
    r.settings.train.checkpoint_every = 50;
    r.checkpoint_interval = None;
    r.stop = StopFlag::new();
    r
}

fn same_result(a: &TrainSummary, b: &TrainSummary) {
    assert_eq!(a.adapter_sha256, b.adapter_sha256);
    assert_eq!(
        a.final_loss.map(f64::to_bits),
        b.final_loss.map(f64::to_bits)
    );
    assert_eq!(
        a.best_val_loss.map(f64::to_bits),
        b.best_val_loss.map(f64::to_bits)
    );
    assert_eq!((a.steps, a.best_step), (b.steps, b.best_step));
}

#[test]
fn a_run_stopped_on_request_checkpoints_and_resumes_bit_identical() {
    let _serial = common::serial();
    let fx = Fixture::new();
    for keep in [finefail_train::Keep::Best, finefail_train::Keep::Last] {
        let mut whole = request(&fx, &format!("whole-{keep:?}"));
        whole.settings.train.keep = keep;
        let want = finetune(&whole, &mut |_| {}).unwrap();
        assert_eq!(checkpoint_steps(&whole.out_dir), vec![6]);

        for at in [1, 3, 5] {
            let mut r = whole.clone();
            r.out_dir = fx.tmp.path().join(format!("stop-{keep:?}-{at}"));
            let (err, checkpoints) = stop_at(&r, at);
            match &err {
                TrainError::Stopped { step, total } => assert_eq!((*step, *total), (at, 6)),
                other => panic!("expected a stop, got {other:?}"),
            }
            assert_eq!(
                err.stopped_at().unwrap(),
                format!("at step {at}/6 (checkpoint kept)")
            );
            assert!(!err.is_bad_input());
            // The stopped step is checkpointed (and nothing after it ran).
            assert_eq!(checkpoints, vec![at], "keep {keep:?}, stop at {at}");
            assert_eq!(checkpoint_steps(&r.out_dir), vec![at]);
            assert!(!r.out_dir.join("adapter").exists());

            r.resume = true;
            let got = finetune(&r, &mut |_| {}).unwrap();
            same_result(&got, &want);
            assert_eq!(adapter_sha(&r.out_dir), adapter_sha(&whole.out_dir));
            assert_eq!(
                train_losses(&r.out_dir),
                train_losses(&whole.out_dir),
                "keep {keep:?}, stop at {at}"
            );
        }
    }
}

#[test]
fn a_stop_before_the_first_step_keeps_nothing_and_one_at_the_last_step_finishes() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let r = request(&fx, "early");
    r.stop.request();
    let err = finetune(&r, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, TrainError::Stopped { step: 0, total: 6 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "training stopped before its first step (0/6)"
    );
    assert!(checkpoint_steps(&r.out_dir).is_empty());

    // Requested during the last step: the run is done, not stopped.
    let r = request(&fx, "last");
    let flag = r.stop.clone();
    let summary = finetune(&r, &mut |e| {
        if let Event::Step(m) = e {
            if m.step == 6 {
                flag.request();
            }
        }
    })
    .unwrap();
    assert_eq!(summary.steps, 6);
}

/// Checkpoints by time (here after every step: an interval of zero) change no number: the adapter,
/// losses and summary match a run that checkpointed only at its end.
#[test]
fn checkpoints_by_time_change_no_number() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let plain = request(&fx, "plain");
    let want = finetune(&plain, &mut |_| {}).unwrap();
    let mut timed = request(&fx, "timed");
    timed.checkpoint_interval = Some(Duration::ZERO);
    let mut checkpoints = Vec::new();
    let got = finetune(&timed, &mut |e| {
        if let Event::Checkpoint { step } = e {
            checkpoints.push(*step);
        }
    })
    .unwrap();
    assert_eq!(checkpoints, (1..=6).collect::<Vec<_>>());
    same_result(&got, &want);
    assert_eq!(train_losses(&timed.out_dir), train_losses(&plain.out_dir));
    // The default is a checkpoint a minute, not a setting (it is in no fingerprint).
    assert_eq!(
        fx.request("x").checkpoint_interval,
        Some(Duration::from_secs(60))
    );
}
