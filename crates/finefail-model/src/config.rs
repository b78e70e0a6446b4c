//! The model description read from a Hugging Face `config.json`.
//!
//! One plain struct covers the Llama family (Llama 2/3, Mistral, Mixtral, Qwen2, SmolLM2, TinyLlama);
//! architecture differences are fields (`qkv_bias`, `moe`, `tie_word_embeddings`, `rope_scaling`),
//! not separate types. Parsing checks presence and consistency so that a bad checkpoint fails here,
//! with the file and the field named, rather than as a shape panic deep in the forward pass.

use crate::error::{ModelError, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The architectures this crate implements (`model_type` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 1/2/3, SmolLM, TinyLlama.
    Llama,
    /// Mistral: a Llama with its own name (sliding window ignored: we never exceed it).
    Mistral,
    /// Mixtral: Mistral with a sparse mixture-of-experts MLP.
    Mixtral,
    /// Qwen2: a Llama with biases on q, k and v.
    Qwen2,
}

impl Architecture {
    /// The `model_type` string as written in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Mistral => "mistral",
            Self::Mixtral => "mixtral",
            Self::Qwen2 => "qwen2",
        }
    }
}

/// How rotary frequencies are rescaled for long context (`rope_scaling` in `config.json`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Llama 3.1 "llama3" scaling: low frequencies divided by `factor`, high ones kept, smooth between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
    /// Linear position interpolation: every frequency divided by `factor`.
    Linear { factor: f64 },
}

/// The sparse mixture-of-experts settings of a Mixtral MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeConfig {
    /// Number of experts per layer (`num_local_experts`).
    pub num_experts: usize,
    /// Experts each token is routed to (`num_experts_per_tok`, 2 for Mixtral).
    pub experts_per_token: usize,
}

/// Everything the decoder needs to know about a checkpoint, parsed from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Which architecture (from `model_type`).
    pub architecture: Architecture,
    /// Model width d.
    pub hidden_size: usize,
    /// Inner width of the SwiGLU MLP (of each expert for Mixtral).
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention; equals `num_attention_heads` for plain MHA).
    pub num_key_value_heads: usize,
    /// Width of one head (`head_dim`, default `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// Rows of the embedding and the output head.
    pub vocab_size: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// Base of the rotary frequencies.
    pub rope_theta: f64,
    /// Optional long-context rescaling of the rotary frequencies.
    pub rope_scaling: Option<RopeScaling>,
    /// Longest position the model was trained for (sizes the rotary table).
    pub max_position_embeddings: usize,
    /// Whether the output head reuses the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on q, k and v (Qwen2 always; Llama when `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the attention output projection (Llama's `attention_bias` sets it too; Qwen2 has none).
    pub o_bias: bool,
    /// Bias on the MLP projections (`mlp_bias`).
    pub mlp_bias: bool,
    /// Mixture-of-experts settings, present for Mixtral only.
    pub moe: Option<MoeConfig>,
    /// Beginning-of-sequence token id, when the config names one.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token ids (the config may give one or a list).
    pub eos_token_ids: Vec<u32>,
    /// The checkpoint's storage dtype as declared (`torch_dtype`, or transformers 5's `dtype`), e.g.
    /// "bfloat16"; informative only.
    pub torch_dtype: Option<String>,
}

impl ModelConfig {
    /// Reads and checks `dir/config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("config.json"))
    }

    /// Reads and checks a `config.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    /// Parses `config.json` text; `path` is only used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ModelError::bad_input(path, format!("not valid JSON: {e}")))?;
        let fields = Fields {
            value: &value,
            path: path.to_path_buf(),
        };
        fields.parse()
    }

    /// Number of query heads that share one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Total parameter count implied by the config (what `model info` reports).
    pub fn parameter_count(&self) -> usize {
        let d = self.hidden_size;
        let q = self.num_attention_heads * self.head_dim;
        let kv = self.num_key_value_heads * self.head_dim;
        let attn = d * q
            + 2 * d * kv
            + q * d
            + if self.qkv_bias { q + 2 * kv } else { 0 }
            + if self.o_bias { d } else { 0 };
        let one_mlp = 3 * d * self.intermediate_size
            + if self.mlp_bias {
                2 * self.intermediate_size + d
            } else {
                0
            };
        let mlp = match self.moe {
            Some(m) => m.num_experts * one_mlp + d * m.num_experts,
            None => one_mlp,
        };
        let layer = attn + mlp + 2 * d;
        let embed = self.vocab_size * d;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * d
        };
        embed + self.num_hidden_layers * layer + d + head
    }
}

/// Field access on the parsed JSON with errors that name the file and the field.
struct Fields<'a> {
    value: &'a Value,
    path: PathBuf,
}

impl Fields<'_> {
    fn bad(&self, message: String) -> ModelError {
        ModelError::bad_input(&self.path, message)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    fn usize_req(&self, key: &str) -> Result<usize> {
        match self.get(key) {
            None => Err(self.bad(format!("missing field `{key}`"))),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    self.bad(format!(
                        "field `{key}` must be a positive integer, found {v}"
                    ))
                }),
        }
    }

    fn usize_opt(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.usize_req(key).map(Some),
        }
    }

    fn f64_opt(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .map(Some)
                .ok_or_else(|| {
                    self.bad(format!(
                        "field `{key}` must be a positive number, found {v}"
                    ))
                }),
        }
    }

    fn bool_opt(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.bad(format!("field `{key}` must be true or false, found {v}"))),
        }
    }

    fn token_ids(&self, key: &str) -> Result<Vec<u32>> {
        let as_id = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    as_id(v).ok_or_else(|| {
                        self.bad(format!("field `{key}` must hold token ids, found {v}"))
                    })
                })
                .collect(),
            Some(v) => as_id(v)
                .map(|id| vec![id])
                .ok_or_else(|| self.bad(format!("field `{key}` must be a token id, found {v}"))),
        }
    }

    fn architecture(&self) -> Result<Architecture> {
        let model_type = self.get("model_type").and_then(Value::as_str);
        let from_archs = || {
            self.get("architectures")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(|a| a.trim_end_matches("ForCausalLM").to_ascii_lowercase())
        };
        let name = match model_type {
            Some(t) => t.to_string(),
            None => from_archs().ok_or_else(|| self.bad("missing field `model_type`".into()))?,
        };
        match name.as_str() {
            "llama" => Ok(Architecture::Llama),
            "mistral" => Ok(Architecture::Mistral),
            "mixtral" => Ok(Architecture::Mixtral),
            "qwen2" => Ok(Architecture::Qwen2),
            other => Err(self.bad(format!(
                "unsupported architecture `{other}` (model_type); supported: llama, mistral, mixtral, qwen2"
            ))),
        }
    }

    /// The rotary settings object: `rope_scaling` (transformers 4), else `rope_parameters`
    /// (transformers 5 writes theta, type and scaling fields into this one object), with its name.
    fn rope_object(&self) -> Result<Option<(&'static str, &serde_json::Map<String, Value>)>> {
        let Some((field, v)) = ["rope_scaling", "rope_parameters"]
            .into_iter()
            .find_map(|field| self.get(field).map(|v| (field, v)))
        else {
            return Ok(None);
        };
        let obj = v
            .as_object()
            .ok_or_else(|| self.bad(format!("field `{field}` must be an object, found {v}")))?;
        Ok(Some((field, obj)))
    }

    /// `rope_theta` at the top level, else inside `rope_parameters` (transformers 5).
    fn rope_theta(&self) -> Result<Option<f64>> {
        if let Some(theta) = self.f64_opt("rope_theta")? {
            return Ok(Some(theta));
        }
        let Some(v) = self
            .get("rope_parameters")
            .and_then(|p| p.get("rope_theta"))
            .filter(|v| !v.is_null())
        else {
            return Ok(None);
        };
        v.as_f64()
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(Some)
            .ok_or_else(|| {
                self.bad(format!(
                    "field `rope_parameters.rope_theta` must be a positive number, found {v}"
                ))
            })
    }

    fn rope_scaling(&self) -> Result<Option<RopeScaling>> {
        let Some((field, obj)) = self.rope_object()? else {
            return Ok(None);
        };
        let kind = match obj.get("rope_type").or_else(|| obj.get("type")) {
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.bad(format!("field `{field}.rope_type` must be a string")))?,
            // rope_parameters may hold only rope_theta: no scaling.
            None if field == "rope_parameters" => "default",
            None => return Err(self.bad(format!("field `{field}` lacks `rope_type`"))),
        };
        let num = |key: &str| -> Result<f64> {
            obj.get(key)
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| {
                    self.bad(format!(
                        "field `{field}.{key}` missing or not a positive number"
                    ))
                })
        };
        match kind {
            "default" => Ok(None),
            "linear" => Ok(Some(RopeScaling::Linear {
                factor: num("factor")?,
            })),
            "llama3" => {
                let s = RopeScaling::Llama3 {
                    factor: num("factor")?,
                    low_freq_factor: num("low_freq_factor")?,
                    high_freq_factor: num("high_freq_factor")?,
                    original_max_position_embeddings: num("original_max_position_embeddings")?,
                };
                if let RopeScaling::Llama3 {
                    low_freq_factor,
                    high_freq_factor,
                    ..
                } = s
                {
                    if high_freq_factor <= low_freq_factor {
                        return Err(self.bad(format!(
                            "`{field}.high_freq_factor` must exceed `low_freq_factor`"
                        )));
                    }
                }
                Ok(Some(s))
            }
            other => Err(self.bad(format!(
                "unsupported `{field}` type `{other}` (supported: linear, llama3)"
            ))),
        }
    }

    fn parse(&self) -> Result<ModelConfig> {
        if !self.value.is_object() {
            return Err(self.bad("config.json must hold a JSON object".into()));
        }
        let architecture = self.architecture()?;
        let hidden_size = self.usize_req("hidden_size")?;
        let num_attention_heads = self.usize_req("num_attention_heads")?;
        let num_key_value_heads = self
            .usize_opt("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if !num_attention_heads.is_multiple_of(num_key_value_heads) {
            return Err(self.bad(format!(
                "inconsistent heads: `num_attention_heads` {num_attention_heads} is not a multiple of `num_key_value_heads` {num_key_value_heads}"
            )));
        }
        let head_dim = match self.usize_opt("head_dim")? {
            Some(h) => h,
            None => {
                if !hidden_size.is_multiple_of(num_attention_heads) {
                    return Err(self.bad(format!(
                        "inconsistent sizes: `hidden_size` {hidden_size} is not a multiple of `num_attention_heads` {num_attention_heads} and `head_dim` is absent"
                    )));
                }
                hidden_size / num_attention_heads
            }
        };
        if !head_dim.is_multiple_of(2) {
            return Err(self.bad(format!(
                "`head_dim` {head_dim} must be even for rotary embeddings"
            )));
        }
        let moe = if architecture == Architecture::Mixtral {
            let num_experts = self.usize_req("num_local_experts")?;
            let experts_per_token = self.usize_req("num_experts_per_tok")?;
            if experts_per_token > num_experts {
                return Err(self.bad(format!(
                    "inconsistent experts: `num_experts_per_tok` {experts_per_token} exceeds `num_local_experts` {num_experts}"
                )));
            }
            Some(MoeConfig {
                num_experts,
                experts_per_token,
            })
        } else {
            None
        };
        let attention_bias = self.bool_opt("attention_bias")?.unwrap_or(false);
        let (qkv_bias, o_bias) = match architecture {
            Architecture::Qwen2 => (true, false),
            _ => (attention_bias, attention_bias),
        };
        let default_theta = 10_000.0;
        let tie_default = false;
        let vocab_size = self.usize_req("vocab_size")?;
        let bos_token_id = self.token_ids("bos_token_id")?.first().copied();
        let eos_token_ids = self.token_ids("eos_token_id")?;
        if let Some(&id) = eos_token_ids
            .iter()
            .chain(bos_token_id.iter())
            .find(|&&id| id as usize >= vocab_size)
        {
            return Err(self.bad(format!(
                "special token id {id} is outside `vocab_size` {vocab_size}"
            )));
        }
        Ok(ModelConfig {
            architecture,
            hidden_size,
            intermediate_size: self.usize_req("intermediate_size")?,
            num_hidden_layers: self.usize_req("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            vocab_size,
            rms_norm_eps: self.f64_opt("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta: self.rope_theta()?.unwrap_or(default_theta),
            rope_scaling: self.rope_scaling()?,
            max_position_embeddings: self.usize_opt("max_position_embeddings")?.unwrap_or(4096),
            tie_word_embeddings: self.bool_opt("tie_word_embeddings")?.unwrap_or(tie_default),
            qkv_bias,
            o_bias,
            mlp_bias: self.bool_opt("mlp_bias")?.unwrap_or(false),
            moe,
            bos_token_id,
            eos_token_ids,
            // transformers 5 writes `dtype`; 4 wrote `torch_dtype`.
            torch_dtype: ["torch_dtype", "dtype"]
                .into_iter()
                .find_map(|key| self.get(key).and_then(Value::as_str))
                .map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ModelConfig> {
        ModelConfig::from_json_str(text, Path::new("dir/config.json"))
    }

    const SMOL: &str = r#"{"model_type":"llama","hidden_size":576,"intermediate_size":1536,
        "num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"vocab_size":49152,
        "rms_norm_eps":1e-5,"rope_theta":100000.0,"max_position_embeddings":8192,
        "tie_word_embeddings":true,"bos_token_id":1,"eos_token_id":2,"torch_dtype":"bfloat16"}"#;

    #[test]
    fn parses_smollm2_config_and_counts_its_parameters() {
        let c = parse(SMOL).unwrap();
        assert_eq!(c.architecture, Architecture::Llama);
        assert_eq!(c.head_dim, 64);
        assert_eq!(c.kv_groups(), 3);
        assert_eq!(c.eos_token_ids, vec![2]);
        // SmolLM2-135M has 134,515,008 parameters (published model card figure).
        assert_eq!(c.parameter_count(), 134_515_008);
    }

    #[test]
    fn missing_field_is_bad_input_naming_file_and_field() {
        let err = parse(r#"{"model_type":"llama","hidden_size":8}"#).unwrap_err();
        assert!(err.is_bad_input());
        let msg = err.to_string();
        assert!(
            msg.contains("dir/config.json") && msg.contains("num_attention_heads"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_architecture_is_named() {
        let err = parse(r#"{"model_type":"gpt2"}"#).unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("gpt2"));
    }

    #[test]
    fn inconsistent_heads_are_rejected() {
        let text = SMOL.replace("\"num_key_value_heads\":3", "\"num_key_value_heads\":4");
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("num_key_value_heads"), "{err}");
    }

    #[test]
    fn qwen2_has_qkv_bias_and_mixtral_needs_experts() {
        let qwen = SMOL.replace("\"llama\"", "\"qwen2\"");
        let c = parse(&qwen).unwrap();
        assert!(c.qkv_bias && !c.o_bias);
        let mixtral = SMOL.replace("\"llama\"", "\"mixtral\"");
        let err = parse(&mixtral).unwrap_err();
        assert!(err.to_string().contains("num_local_experts"), "{err}");
    }

    #[test]
    fn rope_scaling_llama3_and_unknown_type() {
        let text = SMOL.replace(
            "\"rope_theta\":100000.0",
            r#""rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
        );
        assert!(matches!(
            parse(&text).unwrap().rope_scaling,
            Some(RopeScaling::Llama3 { .. })
        ));
        let bad = text.replace("llama3", "yarn");
        assert!(parse(&bad).unwrap_err().to_string().contains("yarn"));
    }

    /// transformers 5 writes `rope_parameters` (theta, type and scaling in one object) and `dtype`
    /// instead of `rope_theta`, `rope_scaling` and `torch_dtype`: the same model must come out.
    #[test]
    fn transformers_5_rope_parameters_and_dtype() {
        let v5 = SMOL
            .replace(
                "\"rope_theta\":100000.0",
                r#""rope_parameters":{"rope_theta":500000.0,"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
            )
            .replace("torch_dtype", "dtype");
        let c = parse(&v5).unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert!(matches!(
            c.rope_scaling,
            Some(RopeScaling::Llama3 { factor, .. }) if factor == 8.0
        ));
        assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
        let plain = SMOL.replace(
            "\"rope_theta\":100000.0",
            r#""rope_parameters":{"rope_theta":10000.0,"rope_type":"default"}"#,
        );
        let c = parse(&plain).unwrap();
        assert_eq!((c.rope_theta, c.rope_scaling), (10000.0, None));
        let bad = SMOL.replace(
            "\"rope_theta\":100000.0",
            r#""rope_parameters":{"rope_theta":-1}"#,
        );
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("rope_parameters.rope_theta"), "{err}");
    }
}
