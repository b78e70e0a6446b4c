//! The key/value cache of incremental decoding, kept apart from the network (as llama-burn does).
//!
//! Each layer's keys and values are preallocated as `[batch, kv_heads, capacity, head_dim]` and filled
//! in place (`slice_assign` writes without copying while the buffer is uniquely owned), so a decode step
//! costs one small write per layer instead of re-concatenating the whole history.

use crate::config::ModelConfig;
use burn::tensor::{s, Device, Tensor};

/// Keys and values of one layer, preallocated to the cache capacity.
#[derive(Debug, Clone)]
struct LayerCache {
    k: Tensor<4>,
    v: Tensor<4>,
}

/// The KV cache of one batch of sequences.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    batch: usize,
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
    device: Device,
}

impl KvCache {
    /// An empty cache for `batch` sequences of at most `capacity` positions (prompt + new tokens).
    /// Layers are allocated lazily on their first write.
    pub fn new(config: &ModelConfig, batch: usize, capacity: usize, device: &Device) -> Self {
        Self {
            layers: vec![None; config.num_hidden_layers],
            batch,
            kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim,
            capacity,
            len: 0,
            device: device.clone(),
        }
    }

    /// Stores the new keys/values `[batch, kv_heads, t, head_dim]` of `layer` after the cached ones and
    /// returns every key and value so far, `[batch, kv_heads, len + t, head_dim]`.
    ///
    /// # Panics
    /// When the cache would overflow its capacity (a caller bug: capacity is sized from the request).
    pub fn append(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let t = k.dims()[2];
        let end = self.len + t;
        assert!(
            end <= self.capacity,
            "KV cache overflow: {end} positions > capacity {}",
            self.capacity
        );
        let shape = [self.batch, self.kv_heads, self.capacity, self.head_dim];
        let entry = self.layers[layer].take().unwrap_or_else(|| LayerCache {
            k: Tensor::zeros(shape, &self.device),
            v: Tensor::zeros(shape, &self.device),
        });
        let start = self.len;
        let kc = entry.k.slice_assign(s![.., .., start..end, ..], k);
        let vc = entry.v.slice_assign(s![.., .., start..end, ..], v);
        let out = (kc.clone().narrow(2, 0, end), vc.clone().narrow(2, 0, end));
        self.layers[layer] = Some(LayerCache { k: kc, v: vc });
        out
    }

    /// Marks `t` more positions as stored; called once per forward pass, after every layer appended.
    pub fn advance(&mut self, t: usize) {
        self.len += t;
    }
}
