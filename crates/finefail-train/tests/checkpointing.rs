//! Activation checkpointing (`train.gradient_checkpointing`): recomputing each decoder layer in the
//! backward gives the same loss and adapter gradients as the plain backward (dropout 0; with dropout
//! the masks are drawn per layer, see `recompute.rs`), on a base stored in f32 and in NF4.

mod common;

use burn::tensor::Device;
use common::Fixture;
use finefail_model::llama::Llama;
use finefail_model::precision::Precision;
use finefail_train::examples::Example;
use finefail_train::loss::accumulate_grads;

fn examples() -> Vec<Example> {
    let rows: [(&[u32], usize); 3] = [
        (&[1, 5, 6, 7, 2, 8, 9], 4),
        (&[1, 9, 3, 2, 4], 2),
        (&[1, 4, 4, 5, 6, 7, 8, 9, 10, 2], 6),
    ];
    rows.iter()
        .enumerate()
        .map(|(i, (t, p))| Example {
            id: i.to_string(),
            tokens: t.to_vec(),
            prompt_len: *p,
        })
        .collect()
}

#[test]
fn recomputed_layers_give_the_plain_gradients() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let dev = Device::flex().autodiff();
    for precision in [Precision::F32, Precision::parse("bf16", "nf4").unwrap()] {
        let mut model = Llama::load_with(&fx.model, &dev, precision).unwrap();
        let mut req = fx.request("unused");
        req.settings.lora.dropout = 0.0;
        model.attach_lora(&req.settings.lora_config(3)).unwrap();
        // A fresh B is zero, which would leave A's gradient zero: give B values first.
        let mut values = finefail_train::adapter::values(&model).unwrap();
        for (k, v) in values.iter_mut() {
            if k.ends_with(".b") {
                v.iter_mut()
                    .enumerate()
                    .for_each(|(i, x)| *x = ((i % 5) as f32 - 2.0) * 0.02);
            }
        }
        finefail_train::adapter::set_values(&mut model, &values, 0.0, &dev).unwrap();
        let exs = examples();
        let batch: Vec<&Example> = exs.iter().collect();
        let (plain_loss, plain) =
            accumulate_grads(&model, &batch, 2, 7, 0, 0, false, &dev).unwrap();
        let (ck_loss, ck) = accumulate_grads(&model, &batch, 2, 7, 0, 0, true, &dev).unwrap();
        assert!(
            (plain_loss - ck_loss).abs() <= 1e-6 * plain_loss.abs(),
            "{precision}: loss {plain_loss} vs {ck_loss}"
        );
        assert_eq!(
            plain.keys().collect::<Vec<_>>(),
            ck.keys().collect::<Vec<_>>()
        );
        let scale = plain.values().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "no gradient reached the adapters");
        let a_scale = plain
            .iter()
            .filter(|(k, _)| k.ends_with(".a"))
            .flat_map(|(_, v)| v)
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(a_scale > 0.0, "A got no gradient");
        for (k, v) in &plain {
            let d = v
                .iter()
                .zip(&ck[k])
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(d <= 1e-5 * scale, "{precision} {k}: {d} (scale {scale})");
        }
    }
}
