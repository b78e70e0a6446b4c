//! GGUF reader: the header, metadata and tensor directory of a llama.cpp model file, and tensors
//! dequantized to f32.
//!
//! Layout (GGUF v2/v3, little endian): magic `GGUF`, version u32, tensor count u64, metadata count
//! u64, the metadata key/value pairs, the tensor infos (name, dims, ggml type, offset), then the
//! tensor data aligned to `general.alignment` (default 32). ggml lists dims innermost-first, so a
//! weight Hugging Face calls `[out, in]` is stored as `[in, out]`; [`GgufFile::tensor_f32`] returns
//! the Hugging Face (outermost-first) shape. Supported types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, the
//! k-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K ([`kquants`]) and the 32-weight types llama.cpp falls back
//! to inside k-quant mixes, Q5_0, Q5_1, IQ4_NL ([`block32`]); block layouts from ggml's
//! `ggml-common.h`. Anything else (the other i-quants, ternary and FP4 types, integers) is a
//! bad-input error naming the tensor, the type and the supported ones.

pub mod block32;
pub mod iq4xs;
pub mod kquants;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use half::f16;
use memmap2::Mmap;

use crate::error::{ModelError, Result};
use crate::floats::{bf16_to_f32, f16_to_f32};
use block32::Block32;
use kquants::{KQuant, QK_K};

/// The magic bytes every GGUF file starts with.
const MAGIC: &[u8; 4] = b"GGUF";
/// Data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// Elements per block of the Q4_0 / Q4_1 / Q8_0 formats.
const QK: usize = 32;

/// One metadata value; GGUF metadata is typed, and arrays may nest.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<GgufValue>),
}

impl GgufValue {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float (floats and integers both convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            Self::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// A ggml tensor type; the ones we cannot dequantize are kept by name for the error message.
/// Variant names are ggml's own (`Q4_K`), so messages and code read like llama.cpp's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    IQ4_NL,
    IQ4_XS,
    /// Any other ggml type id (other i-quants, Q8_K, integers …): listed, never dequantized.
    Other(u32),
}

/// The types [`GgufFile::tensor_f32`] dequantizes, in the order error messages list them.
pub const SUPPORTED_TYPES: [GgmlType; 15] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
];

impl GgmlType {
    /// Maps ggml's numeric type id (`enum ggml_type`).
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            10 => Self::Q2_K,
            11 => Self::Q3_K,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            20 => Self::IQ4_NL,
            23 => Self::IQ4_XS,
            30 => Self::BF16,
            other => Self::Other(other),
        }
    }

    /// ggml's name of the type, used in messages (e.g. `Q4_K` for an unsupported one).
    pub fn name(&self) -> String {
        let known = match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q2_K => "Q2_K",
            Self::Q3_K => "Q3_K",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
            Self::IQ4_NL => "IQ4_NL",
            Self::IQ4_XS => "IQ4_XS",
            Self::Other(id) => {
                return match id {
                    9 => "Q8_1",
                    15 => "Q8_K",
                    16 => "IQ2_XXS",
                    17 => "IQ2_XS",
                    18 => "IQ3_XXS",
                    19 => "IQ1_S",
                    21 => "IQ3_S",
                    22 => "IQ2_S",
                    24 => "I8",
                    25 => "I16",
                    26 => "I32",
                    27 => "I64",
                    28 => "F64",
                    29 => "IQ1_M",
                    34 => "TQ1_0",
                    35 => "TQ2_0",
                    39 => "MXFP4",
                    40 => "NVFP4",
                    41 => "Q1_0",
                    42 => "Q2_0",
                    _ => return format!("ggml type {id}"),
                }
                .to_string()
            }
        };
        known.to_string()
    }

    /// The k-quant format of a k-quant type, `None` for the others.
    fn kquant(&self) -> Option<KQuant> {
        match self {
            Self::Q2_K => Some(KQuant::Q2K),
            Self::Q3_K => Some(KQuant::Q3K),
            Self::Q4_K => Some(KQuant::Q4K),
            Self::Q5_K => Some(KQuant::Q5K),
            Self::Q6_K => Some(KQuant::Q6K),
            _ => None,
        }
    }

    /// The 32-weight fallback format of Q5_0, Q5_1 and IQ4_NL, `None` for the others.
    fn block32(&self) -> Option<Block32> {
        match self {
            Self::Q5_0 => Some(Block32::Q5_0),
            Self::Q5_1 => Some(Block32::Q5_1),
            Self::IQ4_NL => Some(Block32::IQ4_NL),
            _ => None,
        }
    }

    /// (elements per block, bytes per block) of the supported types; `None` for the others.
    fn block(&self) -> Option<(usize, usize)> {
        if let Some(k) = self.kquant() {
            return Some((QK_K, k.block_bytes()));
        }
        if let Some(b) = self.block32() {
            return Some((block32::QK, b.block_bytes()));
        }
        match self {
            Self::F32 => Some((1, 4)),
            Self::F16 | Self::BF16 => Some((1, 2)),
            Self::Q4_0 => Some((QK, 2 + QK / 2)),
            Self::Q4_1 => Some((QK, 4 + QK / 2)),
            Self::Q8_0 => Some((QK, 2 + QK)),
            Self::IQ4_XS => Some((iq4xs::QK_K, iq4xs::BLOCK_BYTES)),
            _ => None,
        }
    }
}

/// "F32, F16, …, Q6_K": the supported types for error messages.
fn supported_list() -> String {
    SUPPORTED_TYPES
        .iter()
        .map(GgmlType::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One storage type of a GGUF file and how much of the file it holds ([`GgufFile::type_census`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeCount {
    /// The ggml type.
    pub dtype: GgmlType,
    /// Tensors stored in it.
    pub tensors: usize,
    /// Their weights.
    pub elements: u64,
}

impl GgmlType {
    /// Whether [`GgufFile::tensor_f32`] decodes this type (else a conversion refuses the file,
    /// naming it).
    pub fn is_decoded(&self) -> bool {
        SUPPORTED_TYPES.contains(self)
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone)]
pub struct GgufTensorInfo {
    /// llama.cpp's tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions as ggml lists them: innermost (contiguous) first.
    pub ggml_dims: Vec<u64>,
    /// Storage type.
    pub dtype: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl GgufTensorInfo {
    /// The shape in Hugging Face / row-major order (outermost first).
    pub fn shape(&self) -> Vec<usize> {
        self.ggml_dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.ggml_dims.iter().product()
    }
}

/// An opened GGUF file: parsed header and metadata, memory-mapped tensor data.
pub struct GgufFile {
    path: PathBuf,
    mmap: Mmap,
    version: u32,
    metadata: BTreeMap<String, GgufValue>,
    tensors: Vec<GgufTensorInfo>,
    data_start: usize,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens and parses `path`; tensor data stays on disk (memory-mapped) until asked for.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        if len < 24 {
            return Err(ModelError::bad_input(
                path,
                "not a GGUF file (too short, truncated?)",
            ));
        }
        // SAFETY: the map is read-only; a file changed underneath us by another process is outside
        // what this tool guards against (as for every mmap-based model loader).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?;
        let mut r = Reader {
            buf: &mmap,
            pos: 0,
            path,
        };
        if r.take(4)? != MAGIC {
            return Err(ModelError::bad_input(path, "not a GGUF file (bad magic)"));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(ModelError::bad_input(
                path,
                format!("unsupported GGUF version {version} (2 and 3 are supported)"),
            ));
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let ty = r.u32()?;
            let value = r.value(ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims > 8 {
                return Err(r.bad(format!("tensor {name}: {n_dims} dimensions")));
            }
            let mut ggml_dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                ggml_dims.push(r.u64()?);
            }
            let dtype = GgmlType::from_id(r.u32()?);
            let offset = r.u64()?;
            tensors.push(GgufTensorInfo {
                name,
                ggml_dims,
                dtype,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            Some(v) => v
                .as_u64()
                .filter(|a| *a > 0)
                .ok_or_else(|| r.bad("bad general.alignment"))?,
            None => DEFAULT_ALIGNMENT,
        };
        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
        let gguf = Self {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            data_start: data_start as usize,
            mmap,
        };
        // Check every tensor we can read lies inside the file (unsupported types fail when read).
        for t in gguf.tensors.iter().filter(|t| t.dtype.block().is_some()) {
            gguf.tensor_bytes(t)?;
        }
        Ok(gguf)
    }

    /// Path the file was opened from (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, keyed by name (e.g. `llama.block_count`).
    pub fn metadata(&self) -> &BTreeMap<String, GgufValue> {
        &self.metadata
    }

    /// One metadata value.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// A required unsigned-integer metadata value; bad input when missing or mistyped.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.get(key)
            .and_then(GgufValue::as_u64)
            .ok_or_else(|| self.missing(key, "an integer"))
    }

    /// A required string metadata value; bad input when missing or mistyped.
    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.get(key)
            .and_then(GgufValue::as_str)
            .ok_or_else(|| self.missing(key, "a string"))
    }

    /// A required array of strings (e.g. `tokenizer.ggml.tokens`).
    pub fn require_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let arr = self.get(key).and_then(GgufValue::as_array);
        let arr = arr.ok_or_else(|| self.missing(key, "an array of strings"))?;
        arr.iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| self.missing(key, "an array of strings"))
            })
            .collect()
    }

    fn missing(&self, key: &str, what: &str) -> ModelError {
        ModelError::bad_input(
            &self.path,
            format!("metadata `{key}` missing or not {what}"),
        )
    }

    /// The tensor directory, in file order.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// How many tensors (and weights) each storage type holds, in order of first appearance: what
    /// `model info` shows, so a file's fallback types (Q5_0 inside a Q4_K_M mix) are seen before a
    /// conversion meets them.
    pub fn type_census(&self) -> Vec<TypeCount> {
        let mut out: Vec<TypeCount> = Vec::new();
        for t in &self.tensors {
            match out.iter_mut().find(|c| c.dtype == t.dtype) {
                Some(c) => {
                    c.tensors += 1;
                    c.elements += t.n_elements();
                }
                None => out.push(TypeCount {
                    dtype: t.dtype,
                    tensors: 1,
                    elements: t.n_elements(),
                }),
            }
        }
        out
    }

    /// Looks a tensor up by its llama.cpp name.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The tensor `name` dequantized to f32, with its Hugging Face-order (outermost-first) shape.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let info = self.tensor_info(name).ok_or_else(|| {
            ModelError::bad_input(&self.path, format!("tensor `{name}` not found"))
        })?;
        let bytes = self.tensor_bytes(info)?;
        let n = info.n_elements() as usize;
        let values = match info.dtype {
            GgmlType::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            GgmlType::F16 => f16_to_f32(bytes),
            GgmlType::BF16 => bf16_to_f32(bytes),
            GgmlType::Q8_0 => dequantize_q8_0(bytes),
            GgmlType::Q4_0 => dequantize_q4(bytes, false),
            GgmlType::Q4_1 => dequantize_q4(bytes, true),
            GgmlType::Q2_K => KQuant::Q2K.dequantize(bytes),
            GgmlType::Q3_K => KQuant::Q3K.dequantize(bytes),
            GgmlType::Q4_K => KQuant::Q4K.dequantize(bytes),
            GgmlType::Q5_K => KQuant::Q5K.dequantize(bytes),
            GgmlType::Q6_K => KQuant::Q6K.dequantize(bytes),
            GgmlType::Q5_0 => Block32::Q5_0.dequantize(bytes),
            GgmlType::Q5_1 => Block32::Q5_1.dequantize(bytes),
            GgmlType::IQ4_NL => Block32::IQ4_NL.dequantize(bytes),
            GgmlType::IQ4_XS => iq4xs::dequantize(bytes),
            GgmlType::Other(_) => unreachable!("tensor_bytes rejects unsupported types"),
        };
        debug_assert_eq!(values.len(), n);
        Ok((info.shape(), values))
    }

    /// The raw bytes of a tensor, checked against the file size and the type's block layout.
    fn tensor_bytes(&self, info: &GgufTensorInfo) -> Result<&[u8]> {
        let (block_elems, block_bytes) = info.dtype.block().ok_or_else(|| {
            ModelError::bad_input(
                &self.path,
                format!(
                    "tensor `{}` has unsupported quantization {} (supported: {})",
                    info.name,
                    info.dtype.name(),
                    supported_list()
                ),
            )
        })?;
        let inner = info.ggml_dims.first().copied().unwrap_or(1) as usize;
        if !inner.is_multiple_of(block_elems) {
            return Err(ModelError::bad_input(
                &self.path,
                format!(
                    "tensor `{}`: row of {inner} not a multiple of the {block_elems}-element block",
                    info.name
                ),
            ));
        }
        let n = info
            .ggml_dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                ModelError::bad_input(&self.path, format!("tensor `{}`: dims overflow", info.name))
            })?;
        let size = (n as usize / block_elems) * block_bytes;
        let start = self.data_start as u64 + info.offset;
        let end = start.saturating_add(size as u64);
        if end > self.mmap.len() as u64 {
            return Err(ModelError::bad_input(
                &self.path,
                format!(
                    "truncated: tensor `{}` ends at byte {end} but the file has {}",
                    info.name,
                    self.mmap.len()
                ),
            ));
        }
        Ok(&self.mmap[start as usize..end as usize])
    }
}

/// Q8_0 block: f16 scale `d`, then 32 signed bytes; x = q·d.
fn dequantize_q8_0(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / (2 + QK) * QK);
    for block in bytes.chunks_exact(2 + QK) {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        out.extend(block[2..].iter().map(|&q| f32::from(q as i8) * d));
    }
    out
}

/// Q4_0 block: f16 `d`, 16 bytes of nibbles; x = (q − 8)·d.
/// Q4_1 block: f16 `d`, f16 `m`, 16 bytes of nibbles; x = q·d + m.
/// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
fn dequantize_q4(bytes: &[u8], with_min: bool) -> Vec<f32> {
    let head = if with_min { 4 } else { 2 };
    let mut out = Vec::with_capacity(bytes.len() / (head + QK / 2) * QK);
    let mut block_vals = [0f32; QK];
    for block in bytes.chunks_exact(head + QK / 2) {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        let qs = &block[head..];
        if with_min {
            let m = f16::from_le_bytes([block[2], block[3]]).to_f32();
            for (j, &q) in qs.iter().enumerate() {
                block_vals[j] = f32::from(q & 0x0F) * d + m;
                block_vals[j + QK / 2] = f32::from(q >> 4) * d + m;
            }
        } else {
            for (j, &q) in qs.iter().enumerate() {
                block_vals[j] = (f32::from(q & 0x0F) - 8.0) * d;
                block_vals[j + QK / 2] = (f32::from(q >> 4) - 8.0) * d;
            }
        }
        out.extend_from_slice(&block_vals);
    }
    out
}

/// Bounds-checked little-endian cursor over the header; every overrun is a "truncated" error.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn bad(&self, msg: impl Into<String>) -> ModelError {
        ModelError::bad_input(self.path, msg.into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end =
            end.ok_or_else(|| self.bad(format!("truncated GGUF header (at byte {})", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| self.bad("string length overflow"))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.bad("metadata string is not UTF-8"))
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<GgufValue> {
        Ok(match ty {
            0 => GgufValue::U8(self.arr::<1>()?[0]),
            1 => GgufValue::I8(self.arr::<1>()?[0] as i8),
            2 => GgufValue::U16(u16::from_le_bytes(self.arr()?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.arr()?)),
            4 => GgufValue::U32(self.u32()?),
            5 => GgufValue::I32(i32::from_le_bytes(self.arr()?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.arr()?)),
            7 => GgufValue::Bool(self.arr::<1>()?[0] != 0),
            8 => GgufValue::String(self.string()?),
            9 => {
                if depth > 4 {
                    return Err(self.bad("metadata arrays nested too deeply"));
                }
                let item_ty = self.u32()?;
                let count = self.u64()?;
                // Every item takes at least one byte: a count beyond the file is a truncation,
                // caught here before allocating.
                if count > (self.buf.len() - self.pos) as u64 {
                    return Err(self.bad(format!("truncated GGUF header (array of {count} items)")));
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::U64(self.u64()?),
            11 => GgufValue::I64(i64::from_le_bytes(self.arr()?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.arr()?)),
            other => return Err(self.bad(format!("unknown metadata value type {other}"))),
        })
    }
}
