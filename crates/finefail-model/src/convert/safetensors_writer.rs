//! Streams dequantized GGUF tensors into one `model.safetensors` of the chosen dtype (bf16, f16 or
//! f32), one tensor in memory at a time.
//!
//! Format: u64 little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`
//! padded with spaces to a multiple of 8 (as the `safetensors` crate writes it), then the data.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::convert::hf_files::LlamaParams;
use crate::convert::out_dtype::OutDtype;
use crate::convert::tensor_names::{unpermute_rows, TensorPlan};
use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;

/// Writes all planned tensors, calling `progress(done, total)` after each; returns (parameter
/// count, file size in bytes).
pub(crate) fn write(
    file: &GgufFile,
    plan: &[TensorPlan],
    p: &LlamaParams,
    dtype: OutDtype,
    path: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(u64, u64)> {
    let mut header = Map::new();
    header.insert(
        "__metadata__".into(),
        json!({"format": "pt", "converted_from": "gguf"}),
    );
    let mut offset = 0u64;
    let mut n_params = 0u64;
    for t in plan {
        let n: u64 = t.shape.iter().map(|&d| d as u64).product();
        let bytes = n * dtype.size() as u64;
        header.insert(
            t.hf_name.clone(),
            json!({"dtype": dtype.safetensors_name(), "shape": t.shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
        n_params += n;
    }
    let mut header_bytes =
        serde_json::to_vec(&Value::Object(header)).map_err(|e| ModelError::Other(e.to_string()))?;
    while !header_bytes.len().is_multiple_of(8) {
        header_bytes.push(b' ');
    }
    let f = std::fs::File::create(path).map_err(|e| ModelError::io(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let io = |e| ModelError::io(path, e);
    w.write_all(&(header_bytes.len() as u64).to_le_bytes())
        .map_err(io)?;
    w.write_all(&header_bytes).map_err(io)?;
    for (i, t) in plan.iter().enumerate() {
        let (_, mut data) = file.tensor_f32(&t.gguf_name)?;
        if let Some(heads) = t.unpermute_heads {
            let rows = t.shape.first().copied().unwrap_or(0);
            let cols = t.shape.get(1).copied().unwrap_or(1);
            if t.shape.len() != 2
                || heads == 0
                || !rows.is_multiple_of(2 * heads)
                || rows / heads != p.head_dim
            {
                return Err(ModelError::bad_input(
                    file.path(),
                    format!(
                        "tensor `{}` of shape {:?} does not fit {heads} heads of dim {}",
                        t.gguf_name, t.shape, p.head_dim
                    ),
                ));
            }
            data = unpermute_rows(&data, heads, cols);
        }
        let buf = dtype.encode(&data).map_err(|max| {
            ModelError::bad_input(
                file.path(),
                format!(
                    "tensor `{}` has values up to {max:e}, beyond f16's 65504; convert with --dtype bf16 or f32",
                    t.gguf_name
                ),
            )
        })?;
        w.write_all(&buf).map_err(io)?;
        progress(i + 1, plan.len());
    }
    let f = w
        .into_inner()
        .map_err(|e| ModelError::io(path, e.into_error()))?;
    f.sync_all().map_err(io)?;
    Ok((n_params, 8 + header_bytes.len() as u64 + offset))
}
