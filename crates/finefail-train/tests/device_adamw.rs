//! The device AdamW and global-norm clipping (`device_adamw`) against the host path (`adamw`):
//! the same update within 1e-6 relative, state converting both ways without a bit changed, and a
//! save/resume through the host state continuing bit for bit. Plus the per-step time of both at
//! SmolLM2-135M r16 q/k/v/o shapes (`--ignored`, printed). The update test runs on
//! `FINEFAIL_TEST_DEVICE` when set (`make check-gpu`: `tch-cpu`, or `tch-cuda:0` on a GPU), else on
//! flex.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::Fixture;
use finefail_model::llama::Llama;
use finefail_model::weights::tensor_values;
use finefail_train::adamw::{self, AdamWParams, AdamWState};
use finefail_train::device_adamw::{self as dev_adamw, DeviceAdamW, DeviceTensors};
use finefail_train::examples::Example;
use std::collections::BTreeMap;
use std::time::Instant;

type Host = BTreeMap<String, Vec<f32>>;

/// A deterministic value stream (SplitMix64) in [-scale, scale).
struct Rng(u64);
impl Rng {
    fn next(&mut self, scale: f32) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * scale
    }
}

/// Tensors named like adapter tensors, of several shapes (a LoRA A/B pair, GQA-narrow B, odd).
fn shapes() -> BTreeMap<String, [usize; 2]> {
    [
        ("l.0.q.a", [576, 16]),
        ("l.0.q.b", [16, 576]),
        ("l.0.k.a", [576, 16]),
        ("l.0.k.b", [16, 192]),
        ("l.1.x.a", [7, 3]),
        ("l.1.x.b", [3, 1]),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_string(), s))
    .collect()
}

fn random(shapes: &BTreeMap<String, [usize; 2]>, rng: &mut Rng, scale: f32) -> Host {
    shapes
        .iter()
        .map(|(k, s)| {
            (
                k.clone(),
                (0..s[0] * s[1]).map(|_| rng.next(scale)).collect(),
            )
        })
        .collect()
}

fn to_device(h: &Host, shapes: &BTreeMap<String, [usize; 2]>, dev: &Device) -> DeviceTensors {
    h.iter()
        .map(|(k, v)| {
            let t = Tensor::<2>::from_data(TensorData::new(v.clone(), shapes[k]), dev);
            (k.clone(), t)
        })
        .collect()
}

fn to_host(d: &DeviceTensors) -> Host {
    d.iter()
        .map(|(k, t)| (k.clone(), tensor_values(t.clone()).unwrap()))
        .collect()
}

/// Largest |device − host| / max(|host|, floor), with the floor 1e-3 of the tensor's largest
/// magnitude (a value that cancelled to ~0 is judged against its tensor's scale).
fn max_rel(d: &Host, h: &Host) -> f64 {
    assert_eq!(d.keys().collect::<Vec<_>>(), h.keys().collect::<Vec<_>>());
    let mut worst = 0.0f64;
    for (k, hv) in h {
        let dv = &d[k];
        assert_eq!(dv.len(), hv.len(), "{k}");
        let scale = hv.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
        let floor = (scale * 1e-3).max(f64::MIN_POSITIVE);
        for (a, b) in dv.iter().zip(hv) {
            let r = (f64::from(*a) - f64::from(*b)).abs() / f64::from(b.abs()).max(floor);
            worst = worst.max(r);
        }
    }
    worst
}

fn moments(st: &AdamWState) -> (Host, Host) {
    let m = st
        .moments
        .iter()
        .map(|(k, x)| (k.clone(), x.m.clone()))
        .collect();
    let v = st
        .moments
        .iter()
        .map(|(k, x)| (k.clone(), x.v.clone()))
        .collect();
    (m, v)
}

/// Clipping active and inactive (and off), weight decay on and off: five steps with fresh
/// gradients each; parameters, m, v and the reported norm agree with the host path.
/// The device the update test runs on: `FINEFAIL_TEST_DEVICE` (e.g. `tch-cpu`), else flex; and
/// whether the update must be bit-identical there (the CPU backends: flex and `tch-cpu`).
fn test_device() -> (Device, bool) {
    match std::env::var("FINEFAIL_TEST_DEVICE") {
        Ok(spec) => (
            finefail_model::device::parse_device(&spec).unwrap(),
            spec == "tch-cpu",
        ),
        Err(_) => (Device::flex(), true),
    }
}

#[test]
fn device_update_equals_host_update() {
    let (dev, bit_identical) = test_device();
    let sh = shapes();
    let mut worst = (0.0f64, 0.0f64, 0.0f64);
    // (max_norm, weight decay, gradient scale): the gradients' global norm is ~ scale · 20.
    let cases = [
        (1.0, 0.1, 0.05),  // norm ≈ 1–2: clipping on some steps
        (1.0, 0.0, 1.0),   // norm ≈ 20: clipping every step
        (1e9, 0.01, 0.05), // never clips
        (0.0, 0.0, 0.05),  // clipping off
    ];
    for (ci, &(max_norm, wd, gscale)) in cases.iter().enumerate() {
        let hp = AdamWParams {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: wd,
        };
        let mut rng = Rng(ci as u64 + 11);
        let mut hp_params = random(&sh, &mut rng, 0.1);
        let mut d_params = to_device(&hp_params, &sh, &dev);
        let (mut host, mut device) = (AdamWState::default(), DeviceAdamW::default());
        let mut clipped = 0;
        for step in 0..5 {
            let lr = 1e-3 * (1.0 + step as f64);
            let g = random(&sh, &mut rng, gscale);
            let mut hg = g.clone();
            let mut dg = to_device(&g, &sh, &dev);
            let hn = adamw::clip_global_norm(&mut hg, max_norm);
            let dn = dev_adamw::clip_global_norm(&mut dg, max_norm)
                .unwrap()
                .into_scalar::<f64>();
            assert!(
                (hn - dn).abs() <= 1e-12 * hn,
                "case {ci} step {step}: norm {hn} vs {dn}"
            );
            if max_norm > 0.0 && hn > max_norm {
                clipped += 1;
            }
            assert!(
                max_rel(&to_host(&dg), &hg) <= 1e-6,
                "case {ci}: clipped grads"
            );
            host.step(&hp, lr, &mut hp_params, &hg);
            device.step(&hp, lr, &mut d_params, &dg);
            let p_err = max_rel(&to_host(&d_params), &hp_params);
            let dh = device.to_host().unwrap();
            assert_eq!(dh.step, host.step);
            let ((dm, dv), (hm, hv)) = (moments(&dh), moments(&host));
            let (m_err, v_err) = (max_rel(&dm, &hm), max_rel(&dv, &hv));
            worst = (worst.0.max(p_err), worst.1.max(m_err), worst.2.max(v_err));
            assert!(
                p_err <= 1e-6 && m_err <= 1e-6 && v_err <= 1e-6,
                "case {ci} step {step}: rel err p {p_err:e} m {m_err:e} v {v_err:e}"
            );
            // On the CPU backends the tensor ops are the host's correctly rounded f32 operations
            // in the same order (no FMA; √v rounded once; the f64 norm rounds to the same f32
            // factor): bit-identical, which is what lets a CPU run switch paths without changing
            // a number. A GPU gets the 1e-6 above.
            if bit_identical {
                assert_eq!(
                    (p_err, m_err, v_err),
                    (0.0, 0.0, 0.0),
                    "case {ci} step {step}: {dev:?} should match the host bit for bit"
                );
            }
        }
        if max_norm == 1.0 {
            assert!(clipped > 0, "case {ci} never clipped");
        } else {
            assert_eq!(clipped, 0, "case {ci} clipped");
        }
    }
    eprintln!(
        "device AdamW on {dev:?}: worst relative error p {:e}, m {:e}, v {:e}",
        worst.0, worst.1, worst.2
    );
}

/// A tensor without a gradient in a step is left alone (parameter and moments), a tensor's first
/// gradient starts its moments at zero, and the flat state is re-laid when the set of tensors with
/// a gradient changes: parameters and moments equal the host's every step (bit for bit on the CPU
/// backends, 1e-6 elsewhere).
#[test]
fn the_set_of_tensors_with_a_gradient_may_change_between_steps() {
    let (dev, bit_identical) = test_device();
    let sh = shapes();
    let hp = AdamWParams {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.1,
    };
    let mut rng = Rng(21);
    let mut hp_params = random(&sh, &mut rng, 0.1);
    let mut d_params = to_device(&hp_params, &sh, &dev);
    let (mut host, mut device) = (AdamWState::default(), DeviceAdamW::default());
    let names: Vec<&String> = sh.keys().collect();
    // Which tensors get a gradient in each step: a subset, all, another subset, all again.
    let steps: [Vec<&String>; 4] = [
        names[..4].to_vec(),
        names.clone(),
        vec![names[1], names[5]],
        names.clone(),
    ];
    for (step, with_grad) in steps.iter().enumerate() {
        let all = random(&sh, &mut rng, 0.05);
        let g: Host = all
            .into_iter()
            .filter(|(k, _)| with_grad.contains(&k))
            .collect();
        let g_shapes: BTreeMap<String, [usize; 2]> = g.keys().map(|k| (k.clone(), sh[k])).collect();
        host.step(&hp, 1e-3, &mut hp_params, &g);
        device.step(&hp, 1e-3, &mut d_params, &to_device(&g, &g_shapes, &dev));
        let p_err = max_rel(&to_host(&d_params), &hp_params);
        let dh = device.to_host().unwrap();
        let ((dm, dv), (hm, hv)) = (moments(&dh), moments(&host));
        assert_eq!(dm.keys().collect::<Vec<_>>(), hm.keys().collect::<Vec<_>>());
        let (m_err, v_err) = (max_rel(&dm, &hm), max_rel(&dv, &hv));
        let bound = if bit_identical { 0.0 } else { 1e-6 };
        assert!(
            p_err <= bound && m_err <= bound && v_err <= bound,
            "step {step}: rel err p {p_err:e} m {m_err:e} v {v_err:e}"
        );
    }
}

/// Host state → device → host is the identity, bit for bit; and a device run saved after 3 steps
/// (through the host state, as a checkpoint stores it) and resumed gives the uninterrupted run's
/// parameters and moments bit for bit.
#[test]
fn state_converts_exactly_and_resume_is_bit_identical() {
    let dev = Device::flex();
    let sh = shapes();
    let hp = AdamWParams {
        betas: [0.9, 0.95],
        eps: 1e-8,
        weight_decay: 0.1,
    };
    let mut rng = Rng(5);
    let p0 = random(&sh, &mut rng, 0.1);
    let grads: Vec<Host> = (0..6).map(|_| random(&sh, &mut rng, 0.1)).collect();
    let run =
        |state: &mut DeviceAdamW, params: &mut DeviceTensors, steps: std::ops::Range<usize>| {
            for s in steps {
                let mut g = to_device(&grads[s], &sh, &dev);
                dev_adamw::clip_global_norm(&mut g, 1.0);
                state.step(&hp, 1e-3, params, &g);
            }
        };
    let (mut full, mut full_p) = (DeviceAdamW::default(), to_device(&p0, &sh, &dev));
    run(&mut full, &mut full_p, 0..6);

    let (mut first, mut first_p) = (DeviceAdamW::default(), to_device(&p0, &sh, &dev));
    run(&mut first, &mut first_p, 0..3);
    let saved: AdamWState = first.to_host().unwrap();
    let saved_p = to_host(&first_p);
    let back = DeviceAdamW::from_host(&saved, &sh, &dev).unwrap();
    assert_eq!(
        back.to_host().unwrap(),
        saved,
        "host → device → host changed the state"
    );
    let (mut resumed, mut resumed_p) = (back, to_device(&saved_p, &sh, &dev));
    run(&mut resumed, &mut resumed_p, 3..6);

    assert_eq!(resumed.to_host().unwrap(), full.to_host().unwrap());
    let bits = |h: &Host| -> Vec<u32> { h.values().flatten().map(|x| x.to_bits()).collect() };
    assert_eq!(bits(&to_host(&resumed_p)), bits(&to_host(&full_p)));

    // A state whose shapes do not match is refused.
    let mut bad = sh.clone();
    bad.insert("l.1.x.b".into(), [2, 2]);
    assert!(DeviceAdamW::from_host(&saved, &bad, &dev).is_err());
    bad.remove("l.1.x.b");
    assert!(DeviceAdamW::from_host(&saved, &bad, &dev).is_err());
}

/// On a real (tiny) model, on the test device: three training steps through the device path (gradients left on the
/// device, accumulated over two micro-batches, clipped, updated, written back) give the host
/// path's adapter within 1e-6 relative.
#[test]
fn model_steps_match_the_host_path() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let dev = test_device().0.autodiff();
    let req = fx.request("unused");
    let hp = AdamWParams {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let load = || {
        let mut m = Llama::load(&fx.model, &dev).unwrap();
        m.attach_lora(&req.settings.lora_config(3)).unwrap();
        m
    };
    let exs = [
        Example {
            id: "a".into(),
            tokens: vec![1, 5, 6, 7, 2, 8, 9],
            prompt_len: 4,
        },
        Example {
            id: "b".into(),
            tokens: vec![1, 9, 4, 3, 2, 6],
            prompt_len: 3,
        },
    ];
    let norm = 5.0;
    let (mut host_m, mut dev_m) = (load(), load());
    let (mut host, mut device) = (AdamWState::default(), DeviceAdamW::default());
    for step in 0..3 {
        let lr = 1e-2;
        // Host: the trainer's path.
        let mut hg: Host = BTreeMap::new();
        for ex in &exs {
            let l = finefail_train::loss::micro_loss(&host_m, &[ex], norm, 0, &dev);
            let g = finefail_train::adapter::gradients(&host_m, &l.backward()).unwrap();
            finefail_train::adapter::add_gradients(&mut hg, g);
        }
        let hn = adamw::clip_global_norm(&mut hg, 0.05);
        let mut hp_params = finefail_train::adapter::values(&host_m).unwrap();
        host.step(&hp, lr, &mut hp_params, &hg);
        finefail_train::adapter::set_values(&mut host_m, &hp_params, 0.0, &dev).unwrap();
        // Device.
        let mut dg = DeviceTensors::new();
        for ex in &exs {
            let l = finefail_train::loss::micro_loss(&dev_m, &[ex], norm, 0, &dev);
            dev_adamw::add_gradients(&mut dg, dev_adamw::gradients(&dev_m, &l.backward()));
        }
        let dn = dev_adamw::clip_global_norm(&mut dg, 0.05).unwrap();
        let mut d_params = dev_adamw::values(&dev_m).unwrap();
        device.step(&hp, lr, &mut d_params, &dg);
        dev_adamw::set_values(&mut dev_m, &d_params).unwrap();

        assert!(
            hn > 0.05,
            "step {step}: clipping should be active (norm {hn})"
        );
        let dn = dn.into_scalar::<f64>();
        assert!(
            (hn - dn).abs() <= 1e-6 * hn,
            "step {step}: norm {hn} vs {dn}"
        );
        let after_host = finefail_train::adapter::values(&host_m).unwrap();
        let after_dev = finefail_train::adapter::values(&dev_m).unwrap();
        let err = max_rel(&after_dev, &after_host);
        assert!(err <= 1e-6, "step {step}: adapter rel err {err:e}");
    }
    // The written-back adapters are trainable again.
    let l = finefail_train::loss::micro_loss(&dev_m, &[&exs[0]], norm, 0, &dev);
    let g = dev_adamw::gradients(&dev_m, &l.backward());
    let total: f32 = g
        .values()
        .map(|t| t.clone().abs().sum().into_scalar::<f32>())
        .sum();
    assert!(total > 0.0, "no gradient after set_values");
    assert_eq!(
        dev_adamw::shapes(&dev_m).len(),
        finefail_train::adapter::values(&dev_m).unwrap().len()
    );
}

/// SmolLM2-135M's adapter with r 16 on q/k/v/o (30 layers, hidden 576, 9 heads / 3 KV heads of
/// 64: q/o 576→576, k/v 576→192): 1,843,200 values in 240 tensors.
fn smollm2_r16_shapes() -> BTreeMap<String, [usize; 2]> {
    let mut out = BTreeMap::new();
    for layer in 0..30 {
        for (proj, d_out) in [("q", 576), ("k", 192), ("v", 192), ("o", 576)] {
            let p = format!("model.layers.{layer}.self_attn.{proj}_proj");
            out.insert(format!("{p}.a"), [576, 16]);
            out.insert(format!("{p}.b"), [16, d_out]);
        }
    }
    out
}

/// Per-step optimizer time on this CPU (flex), host vs device, at SmolLM2-135M r16 q/k/v/o
/// shapes. The host time counts what the trainer does: adapter and gradients read back, clip,
/// AdamW loop, adapter written back as new tensors. Run with
/// `cargo test --workspace --test device_adamw -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: prints host vs device optimizer step times"]
fn measure_optimizer_step_smollm2_r16() {
    let (dev, _) = test_device();
    let sh = smollm2_r16_shapes();
    let n: usize = sh.values().map(|s| s[0] * s[1]).sum();
    assert_eq!(n, 1_843_200);
    let hp = AdamWParams {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let mut rng = Rng(1);
    let p0 = random(&sh, &mut rng, 0.05);
    let g0 = random(&sh, &mut rng, 0.01);
    let (warm, reps) = (3, 20);

    let mut hs = AdamWState::default();
    let mut hparams = to_device(&p0, &sh, &dev);
    let dgrads = to_device(&g0, &sh, &dev);
    let mut host_t = Vec::new();
    for i in 0..warm + reps {
        let t0 = Instant::now();
        let mut g = to_host(&dgrads);
        adamw::clip_global_norm(&mut g, 1.0);
        let mut p = to_host(&hparams);
        hs.step(&hp, 1e-4, &mut p, &g);
        hparams = to_device(&p, &sh, &dev);
        if i >= warm {
            host_t.push(t0.elapsed().as_secs_f64());
        }
    }

    let mut ds = DeviceAdamW::default();
    let mut dparams = to_device(&p0, &sh, &dev);
    let mut dev_t = Vec::new();
    for i in 0..warm + reps {
        let t0 = Instant::now();
        let mut g = dgrads.clone();
        let norm = dev_adamw::clip_global_norm(&mut g, 1.0).unwrap();
        ds.step(&hp, 1e-4, &mut dparams, &g);
        let _ = norm.into_scalar::<f64>(); // the metric the trainer logs (and a sync point)
        if i >= warm {
            dev_t.push(t0.elapsed().as_secs_f64());
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1e3
    };
    let (h, d) = (med(&mut host_t), med(&mut dev_t));
    println!(
        "optimizer step, SmolLM2-135M r16 q/k/v/o ({n} values, {} tensors), {dev:?}, median of \
         {reps}: host {h:.2} ms, device {d:.2} ms",
        sh.len()
    );
    let err = max_rel(&to_host(&dparams), &to_host(&hparams));
    assert!(err <= 1e-6, "after {} steps: rel err {err:e}", warm + reps);
}
