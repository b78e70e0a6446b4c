//! Checkpoint I/O for Hugging Face safetensors: reading tensors by name from a single
//! `model.safetensors` or a sharded set with `model.safetensors.index.json`, and writing them.
//!
//! Reading is by name with the expected shape given by the caller, so a wrong checkpoint fails with
//! the tensor's name and both shapes. Tensors are read (not memory-mapped) and converted to f32 one at
//! a time (f32, f16 and bf16 storage), which keeps peak memory near the size of the f32 model.

use crate::error::{ModelError, Result};
use crate::floats::{bf16_to_f32, f16_to_f32};
use safetensors::tensor::{Dtype, TensorInfo, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One safetensors file: its parsed header and an open handle. Tensors are read with positioned
/// reads rather than a memory map, so the file's pages never count towards the process's memory.
struct Shard {
    path: PathBuf,
    file: File,
    /// Byte offset where the tensor data section starts (8 + header length).
    data_start: u64,
    tensors: HashMap<String, TensorInfo>,
}

impl Shard {
    /// Opens a file and checks its header against its length (a truncated file fails here).
    fn open(path: &Path) -> Result<Self> {
        let bad = |m: String| {
            ModelError::bad_input(
                path,
                format!("not a valid safetensors file (truncated or corrupt): {m}"),
            )
        };
        let mut file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        let mut len_bytes = [0u8; 8];
        file.read_exact(&mut len_bytes)
            .map_err(|_| bad("no header".into()))?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > 100_000_000 || 8 + header_len > file_len {
            return Err(bad("bad header length".into()));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header)
            .map_err(|e| ModelError::io(path, e))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
        let data_len = file_len - 8 - header_len;
        let mut tensors = HashMap::new();
        let mut end = 0u64;
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let info: TensorInfo = serde_json::from_value(value)
                .map_err(|e| bad(format!("tensor `{name}`: unreadable entry ({e})")))?;
            let (a, b) = info.data_offsets;
            let bytes = info.shape.iter().product::<usize>() * info.dtype.bitsize() / 8;
            if b < a || b - a != bytes {
                return Err(bad(format!(
                    "tensor `{name}`: data offsets do not match its shape"
                )));
            }
            end = end.max(b as u64);
            tensors.insert(name, info);
        }
        if end != data_len {
            return Err(bad(format!(
                "header describes {end} data bytes, the file holds {data_len}"
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            data_start: 8 + header_len,
            tensors,
        })
    }

    /// The raw bytes of one tensor.
    fn read_bytes(&self, info: &TensorInfo) -> Result<Vec<u8>> {
        let (a, b) = info.data_offsets;
        let mut buf = vec![0u8; b - a];
        let mut f = &self.file;
        f.seek(SeekFrom::Start(self.data_start + a as u64))
            .map_err(|e| ModelError::io(&self.path, e))?;
        f.read_exact(&mut buf)
            .map_err(|e| ModelError::io(&self.path, e))?;
        Ok(buf)
    }
}

/// A read-only view of a checkpoint's tensors, possibly spread over shards.
pub struct Checkpoint {
    dir: PathBuf,
    shards: Vec<Shard>,
    /// Tensor name → index into `shards`.
    index: HashMap<String, usize>,
}

/// The name of the single-file checkpoint inside a Hugging Face directory.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The name of the shard index of a sharded Hugging Face checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

impl Checkpoint {
    /// Opens `dir/model.safetensors`, or the shards listed in `dir/model.safetensors.index.json`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let single = dir.join(SINGLE_FILE);
        let index = dir.join(INDEX_FILE);
        let files = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            shard_files(&index)?
        } else {
            return Err(ModelError::bad_input(
                dir,
                format!("no {SINGLE_FILE} or {INDEX_FILE} in the checkpoint directory"),
            ));
        };
        Self::open_files(dir, &files)
    }

    /// Opens explicit safetensors files (one checkpoint split over several files).
    pub fn open_files(dir: &Path, files: &[PathBuf]) -> Result<Self> {
        let mut shards = Vec::with_capacity(files.len());
        let mut index = HashMap::new();
        for path in files {
            let shard = Shard::open(path)?;
            for name in shard.tensors.keys() {
                if index.insert(name.clone(), shards.len()).is_some() {
                    return Err(ModelError::bad_input(
                        path,
                        format!("tensor `{name}` appears in two shards"),
                    ));
                }
            }
            shards.push(shard);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shards,
            index,
        })
    }

    /// The directory (or the file's directory) the checkpoint was opened from, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every tensor name in the checkpoint.
    pub fn names(&self) -> Vec<&str> {
        self.index.keys().map(String::as_str).collect()
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The stored shape and dtype of a tensor, if present.
    pub fn info(&self, name: &str) -> Option<(Vec<usize>, Dtype)> {
        let shard = &self.shards[*self.index.get(name)?];
        shard.tensors.get(name).map(|i| (i.shape.clone(), i.dtype))
    }

    /// The dtypes stored in the checkpoint, with their tensor counts (for `model info`).
    pub fn dtypes(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for shard in &self.shards {
            for info in shard.tensors.values() {
                *out.entry(format!("{:?}", info.dtype).to_lowercase())
                    .or_insert(0) += 1;
            }
        }
        out
    }

    /// The shard and header entry of tensor `name`, checking that its shape is `expected`.
    fn locate(&self, name: &str, expected: &[usize]) -> Result<(&Shard, &TensorInfo)> {
        let Some(&shard_idx) = self.index.get(name) else {
            return Err(ModelError::bad_input(
                &self.dir,
                format!("tensor `{name}` is missing (expected shape {expected:?})"),
            ));
        };
        let shard = &self.shards[shard_idx];
        let info = shard.tensors.get(name).ok_or_else(|| {
            ModelError::Other(format!("tensor `{name}` vanished from its shard index"))
        })?;
        if info.shape != expected {
            return Err(ModelError::bad_input(
                &shard.path,
                format!(
                    "tensor `{name}` has shape {:?}, expected {expected:?}",
                    info.shape
                ),
            ));
        }
        Ok((shard, info))
    }

    /// Reads tensor `name` as f32, checking that its shape is `expected`.
    pub fn read_f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let (shard, info) = self.locate(name, expected)?;
        let bytes = shard.read_bytes(info)?;
        to_f32(&bytes, info.dtype)
            .map_err(|m| ModelError::bad_input(&shard.path, format!("tensor `{name}`: {m}")))
    }

    /// The raw 16-bit words of tensor `name` when it is stored as `dtype` (BF16 or F16), else
    /// `None`: a base kept in its checkpoint's own 16-bit dtype loads without converting to f32
    /// and back.
    pub fn read_half_bits(
        &self,
        name: &str,
        expected: &[usize],
        dtype: Dtype,
    ) -> Result<Option<Vec<u16>>> {
        let (shard, info) = self.locate(name, expected)?;
        if info.dtype != dtype || !matches!(dtype, Dtype::BF16 | Dtype::F16) {
            return Ok(None);
        }
        let bytes = shard.read_bytes(info)?;
        Ok(Some(
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ))
    }
}

/// Copies a tensor's values to the host as f32 (whatever its device and float dtype).
pub fn tensor_values<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| ModelError::Other(format!("reading a tensor back from the device: {e:?}")))
}

/// Row-major transpose of a `[rows, cols]` matrix: checkpoints store linear weights `[out, in]`,
/// the decoder `[in, out]`. Done in 64 × 64 tiles, bands of output rows in parallel: loading a 7B
/// model transposes 6.5 B values, which a plain double loop (a cache miss per write) made the
/// slowest part of the load.
pub(crate) fn transpose<T: Copy + Default + Send + Sync>(
    values: &[T],
    rows: usize,
    cols: usize,
) -> Vec<T> {
    use rayon::prelude::*;
    const TILE: usize = 64;
    let mut out = vec![T::default(); values.len()];
    if rows == 0 || cols == 0 {
        return out;
    }
    // Band `b` is output rows (= input columns) b·TILE .. b·TILE + TILE.
    out.par_chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(band, dst)| {
            let c0 = band * TILE;
            let c1 = (c0 + TILE).min(cols);
            for r0 in (0..rows).step_by(TILE) {
                let r1 = (r0 + TILE).min(rows);
                for c in c0..c1 {
                    let row = &mut dst[(c - c0) * rows..(c - c0 + 1) * rows];
                    for (r, slot) in row.iter_mut().enumerate().take(r1).skip(r0) {
                        *slot = values[r * cols + c];
                    }
                }
            }
        });
    out
}

/// Decodes little-endian tensor bytes of a floating dtype into f32.
fn to_f32(bytes: &[u8], dtype: Dtype) -> std::result::Result<Vec<f32>, String> {
    match dtype {
        Dtype::F32 => Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        Dtype::F16 => Ok(f16_to_f32(bytes)),
        Dtype::BF16 => Ok(bf16_to_f32(bytes)),
        Dtype::F64 => Ok(bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect()),
        other => Err(format!(
            "unsupported dtype {other:?} (supported: F32, F16, BF16, F64)"
        )),
    }
}

/// The shard file names listed in a `model.safetensors.index.json`, in first-seen order.
fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelError::io(index, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ModelError::bad_input(index, format!("not valid JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| ModelError::bad_input(index, "missing object `weight_map`"))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, file) in map {
        let file = file.as_str().ok_or_else(|| {
            ModelError::bad_input(index, format!("`weight_map.{name}` is not a file name"))
        })?;
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(ModelError::bad_input(
                index,
                format!("shard name `{file}` must be a plain file name"),
            ));
        }
        let path = dir.join(file);
        if !files.contains(&path) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(ModelError::bad_input(index, "`weight_map` lists no shards"));
    }
    Ok(files)
}

/// Writes f32 tensors `(name, shape, values)` as one safetensors file, atomically
/// ([`finefail_core::atomic`]): the training checkpoints' optimizer state and test fixtures; the
/// PEFT adapter writer adds header metadata ([`write_safetensors_with_metadata`]), and the GGUF
/// converter streams its own file (`convert::safetensors_writer`).
pub fn write_safetensors(path: &Path, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) -> Result<()> {
    write_safetensors_with_metadata(path, tensors, None)
}

/// [`write_safetensors`] with the optional string metadata of the safetensors header
/// (e.g. `{"format": "pt"}`, which PyTorch loaders like to see).
pub fn write_safetensors_with_metadata(
    path: &Path,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let mut bytes: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, shape, values) in tensors {
        let numel: usize = shape.iter().product();
        if numel != values.len() {
            return Err(ModelError::Other(format!(
                "tensor `{name}`: shape {shape:?} holds {numel} values but {} were given",
                values.len()
            )));
        }
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.push((name, shape, raw));
    }
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, raw) in &bytes {
        let view = TensorView::new(Dtype::F32, shape.clone(), raw)
            .map_err(|e| ModelError::Other(format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    let serialized = safetensors::serialize(views, metadata)
        .map_err(|e| ModelError::Other(format!("{}: {e}", path.display())))?;
    Ok(finefail_core::atomic::write_file(path, &serialized)?)
}

/// Writes a float32 array as a NumPy `.npy` file (format 1.0, C order), atomically. Used by
/// `finefail model logits` so users can compare logits with other implementations.
pub fn write_npy_f32(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    let numel: usize = shape.iter().product();
    if numel != values.len() {
        return Err(ModelError::Other(format!(
            "npy: shape {shape:?} holds {numel} values, got {}",
            values.len()
        )));
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * values.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    let header_len =
        u16::try_from(header.len()).map_err(|_| ModelError::Other("npy header too long".into()))?;
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(finefail_core::atomic::write_file(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy_f32(&path, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(
            header.contains("'shape': (2, 3)") && header.ends_with('\n'),
            "{header}"
        );
        assert_eq!(bytes.len(), 10 + header_len + 24);
        assert_eq!(
            f32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()),
            6.0
        );
    }

    #[test]
    fn round_trip_and_shape_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SINGLE_FILE);
        write_safetensors(
            &path,
            vec![("a.weight".into(), vec![2, 3], vec![1., 2., 3., 4., 5., 6.])],
        )
        .unwrap();
        let ck = Checkpoint::open_dir(dir.path()).unwrap();
        assert_eq!(
            ck.read_f32("a.weight", &[2, 3]).unwrap(),
            vec![1., 2., 3., 4., 5., 6.]
        );
        let err = ck.read_f32("a.weight", &[3, 2]).unwrap_err();
        assert!(err.is_bad_input());
        let msg = err.to_string();
        assert!(
            msg.contains("a.weight") && msg.contains("[2, 3]") && msg.contains("[3, 2]"),
            "{msg}"
        );
        let err = ck.read_f32("b.weight", &[1]).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("b.weight"));
    }

    #[test]
    fn truncated_file_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SINGLE_FILE);
        write_safetensors(&path, vec![("w".into(), vec![4], vec![1., 2., 3., 4.])]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = Checkpoint::open_dir(dir.path()).err().unwrap();
        assert!(err.is_bad_input(), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn tiled_transpose_is_the_transpose() {
        for (rows, cols) in [(1, 1), (3, 5), (64, 64), (67, 130), (130, 67), (200, 1)] {
            let v: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transpose(&v, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        t[c * rows + r],
                        v[r * cols + c],
                        "{rows}×{cols} at ({r}, {c})"
                    );
                }
            }
        }
        assert!(transpose::<f32>(&[], 0, 5).is_empty());
    }

    #[test]
    fn bf16_and_f16_decode_to_f32() {
        let bf: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        assert_eq!(to_f32(&bf, Dtype::BF16).unwrap(), vec![1.5, -2.0]);
        let f: Vec<u8> = [0.25f32, 3.0]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        assert_eq!(to_f32(&f, Dtype::F16).unwrap(), vec![0.25, 3.0]);
    }

    #[test]
    fn sharded_checkpoint_reads_across_files() {
        let dir = tempfile::tempdir().unwrap();
        write_safetensors(
            &dir.path().join("model-00001-of-00002.safetensors"),
            vec![("x".into(), vec![1], vec![7.])],
        )
        .unwrap();
        write_safetensors(
            &dir.path().join("model-00002-of-00002.safetensors"),
            vec![("y".into(), vec![1], vec![8.])],
        )
        .unwrap();
        let index = r#"{"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}"#;
        std::fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        let ck = Checkpoint::open_dir(dir.path()).unwrap();
        assert_eq!(ck.read_f32("y", &[1]).unwrap(), vec![8.]);
        assert_eq!(ck.read_f32("x", &[1]).unwrap(), vec![7.]);
    }
}
