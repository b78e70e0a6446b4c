//! LoRA on the tiny Llama: a fresh adapter changes nothing; a PEFT adapter written by the numpy
//! script gives the reference logits; merge == unmerged; save → load is exact; gradients equal the
//! float64 central finite differences recorded by the script; one AdamW step changes only adapters.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use common::*;
use finefail_model::llama::Llama;
use finefail_model::lora::LoraConfig;
use finefail_model::peft::{load_adapter, save_adapter, AdapterConfig};

fn all_targets() -> LoraConfig {
    lora_all_targets(3)
}

#[test]
fn fresh_adapter_leaves_logits_unchanged() {
    let dev = Device::flex();
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    let tokens = ref_tokens(&reference("tiny_llama"));
    let before = values(model.forward(token_row(&tokens, &dev)));
    model.attach_lora(&all_targets()).unwrap();
    assert_eq!(
        model
            .linears()
            .iter()
            .filter(|(_, l)| l.lora.is_some())
            .count(),
        14
    );
    let after = values(model.forward(token_row(&tokens, &dev)));
    assert_eq!(max_abs_diff(&before, &after), 0.0);
}

#[test]
fn peft_adapter_gives_reference_logits_and_merge_matches() {
    let dev = Device::flex();
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    let cfg = load_adapter(&mut model, &fixture("tiny_llama_lora")).unwrap();
    assert_eq!((cfg.r, cfg.target_modules.len()), (2, 2));
    let r = reference("tiny_llama_lora");
    let tokens = ref_tokens(&r);
    let unmerged = values(model.forward(token_row(&tokens, &dev)));
    let diff = max_abs_diff(&unmerged, &ref_logits(&r));
    assert!(diff <= 1e-4, "adapted logits vs reference: {diff}");
    model.merge_lora();
    let merged = values(model.forward(token_row(&tokens, &dev)));
    let diff = max_abs_diff(&merged, &unmerged);
    assert!(diff <= 1e-5, "merged vs unmerged: {diff}");
    model.unmerge_lora();
    let again = values(model.forward(token_row(&tokens, &dev)));
    assert!(max_abs_diff(&again, &unmerged) <= 1e-5);
}

#[test]
fn save_load_round_trip_is_exact() {
    let dev = Device::flex();
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    load_adapter(&mut model, &fixture("tiny_llama_lora")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let cfg = AdapterConfig::from_dir(&fixture("tiny_llama_lora")).unwrap();
    save_adapter(&model, &out, &cfg).unwrap();
    save_adapter(&model, &out, &cfg).unwrap(); // replacing an existing adapter works too
    let mut other = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    let cfg2 = load_adapter(&mut other, &out).unwrap();
    assert_eq!(cfg, cfg2);
    for ((pa, a), (pb, b)) in model.linears().into_iter().zip(other.linears()) {
        assert_eq!(pa, pb);
        match (&a.lora, &b.lora) {
            (Some(x), Some(y)) => {
                assert_eq!(values(x.a.val()), values(y.a.val()), "{pa} A");
                assert_eq!(values(x.b.val()), values(y.b.val()), "{pa} B");
                assert_eq!(x.scale, y.scale);
            }
            (None, None) => {}
            _ => panic!("{pa}: adapter presence differs"),
        }
    }
    // The file itself is byte-identical to what was read (PEFT layout, same keys and values).
    let original = safetensors_map(&fixture("tiny_llama_lora/adapter_model.safetensors"));
    let saved = safetensors_map(&out.join("adapter_model.safetensors"));
    assert_eq!(original, saved);
}

fn safetensors_map(
    path: &std::path::Path,
) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

#[test]
fn adapter_for_another_model_is_bad_input_naming_key_and_shapes() {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    std::fs::create_dir(&out).unwrap();
    // Same keys, but A has the wrong input width (16 instead of 32).
    let text = std::fs::read_to_string(fixture("tiny_llama_lora/adapter_config.json")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    cfg["target_modules"] = serde_json::json!(["q_proj"]);
    std::fs::write(out.join("adapter_config.json"), cfg.to_string()).unwrap();
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    finefail_model::weights::write_safetensors(
        &out.join("adapter_model.safetensors"),
        vec![(key.into(), vec![2, 16], vec![0.0; 32])],
    )
    .unwrap();
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    let err = load_adapter(&mut model, &out).unwrap_err();
    assert!(err.is_bad_input());
    let msg = err.to_string();
    assert!(
        msg.contains(key) && msg.contains("[2, 16]") && msg.contains("[2, 32]"),
        "{msg}"
    );
}

#[test]
fn lora_gradients_match_finite_differences() {
    let dev = Device::flex().autodiff();
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    load_adapter(&mut model, &fixture("tiny_llama_lora")).unwrap();
    let r = reference("tiny_llama_lora");
    let tokens = ref_tokens(&r);
    let loss = next_token_loss(&model, &tokens, &dev);
    let loss_value = values(loss.clone())[0];
    let expected_loss = r["loss"].as_f64().unwrap() as f32;
    assert!(
        (loss_value - expected_loss).abs() <= 1e-5,
        "loss {loss_value} vs {expected_loss}"
    );
    let grads = loss.backward();
    let mut checked = 0;
    for (path, lin) in model.linears() {
        let Some(l) = &lin.lora else {
            assert!(
                lin.weight.dense_f32().grad(&grads).is_none(),
                "{path}: base weight got a gradient"
            );
            continue;
        };
        assert!(
            lin.weight.dense_f32().grad(&grads).is_none(),
            "{path}: frozen weight got a gradient"
        );
        let (d_in, d_out, rank) = (lin.d_in(), lin.d_out(), l.a.dims()[1]);
        // Ours are [in, r] and [r, out]; PEFT's (the reference's) are [r, in] and [out, r].
        let ga = values(
            l.a.val()
                .grad(&grads)
                .expect("A has a gradient")
                .transpose(),
        );
        let gb = values(
            l.b.val()
                .grad(&grads)
                .expect("B has a gradient")
                .transpose(),
        );
        assert_eq!((ga.len(), gb.len()), (rank * d_in, d_out * rank));
        for (kind, got) in [("A", ga), ("B", gb)] {
            let key = format!("base_model.model.{path}.lora_{kind}.weight");
            let want: Vec<f32> = r["grads"][&key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(&got, &want);
            assert!(
                diff <= 1e-4 + 1e-3 * scale,
                "{key}: max |diff| {diff} (max |grad| {scale})"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

/// Every float parameter of the module, by visiting order, with its values.
struct Collect(Vec<(bool, Vec<f32>)>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.is_require_grad(), values(param.val())));
    }
}

#[test]
fn adamw_step_changes_only_adapters() {
    let dev = Device::flex().autodiff();
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    model.attach_lora(&all_targets()).unwrap();
    let tokens = ref_tokens(&reference("tiny_llama"));
    let mut before = Collect(Vec::new());
    model.visit(&mut before);
    let loss = next_token_loss(&model, &tokens, &dev);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    // 14 adapted projections × (A, B); base weights have no gradient.
    assert_eq!(grads.len(), 28);
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init();
    let model = optim.step(1e-3, model, grads);
    let mut after = Collect(Vec::new());
    model.visit(&mut after);
    assert_eq!(before.0.len(), after.0.len());
    let (mut trainable, mut frozen) = (0, 0);
    for ((trains, b), (_, a)) in before.0.iter().zip(&after.0) {
        if *trains {
            trainable += 1;
            // Every A moves; B starts at zero and moves away from it.
            assert!(max_abs_diff(a, b) > 0.0, "an adapter tensor did not change");
        } else {
            frozen += 1;
            assert_eq!(a, b, "a frozen tensor changed");
        }
    }
    // 2 layers × (2 norms + 7 projections) + embedding + final norm + untied head.
    assert_eq!((trainable, frozen), (28, 2 * 9 + 3));
}

#[test]
fn lora_backward_runs_through_moe_and_qkv_bias() {
    for name in ["tiny_mixtral", "tiny_qwen2"] {
        let dev = Device::flex().autodiff();
        let mut model = Llama::load(&fixture(name), &dev).unwrap();
        let mut cfg = all_targets();
        if name == "tiny_mixtral" {
            cfg.targets = vec!["q_proj".into(), "v_proj".into(), "o_proj".into()];
        }
        model.attach_lora(&cfg).unwrap();
        let tokens = ref_tokens(&reference(name));
        let loss = next_token_loss(&model, &tokens, &dev);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let adapted = model
            .linears()
            .iter()
            .filter(|(_, l)| l.lora.is_some())
            .count();
        assert_eq!(
            grads.len(),
            2 * adapted,
            "{name}: only adapter tensors get gradients"
        );
    }
}

/// An adapter written by Python PEFT itself (`make_python_peft_adapter.py`: r 4 on all seven
/// projections, random A and B) gives the logits PEFT computed with it; the base model gives the
/// logits transformers computed.
#[test]
fn adapter_written_by_python_peft_gives_peft_logits() {
    let dev = Device::flex();
    let dir = fixture("tiny_llama_peft_python");
    let r = reference("tiny_llama_peft_python");
    let tokens = ref_tokens(&r);
    let mut model = Llama::load(&fixture("tiny_llama"), &dev).unwrap();
    let base = values(model.forward(token_row(&tokens, &dev)));
    let diff = max_abs_diff(&base, &ref_matrix(&r, "base_logits_transformers"));
    assert!(diff <= 1e-4, "base vs transformers: max |diff| {diff}");
    let cfg = load_adapter(&mut model, &dir).unwrap();
    assert_eq!(cfg.r, 4);
    let with = values(model.forward(token_row(&tokens, &dev)));
    let diff = max_abs_diff(&with, &ref_logits(&r));
    assert!(diff <= 1e-4, "adapter vs PEFT: max |diff| {diff}");
    assert!(
        max_abs_diff(&with, &base) > 1e-2,
        "the adapter must change the output"
    );
}
