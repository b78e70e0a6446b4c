//! Chat templates: the checkpoint's own Jinja `chat_template` rendered with minijinja, set up the
//! way Hugging Face transformers renders it (`trim_blocks`, `lstrip_blocks`, loop controls, Python
//! string methods such as `.strip()`, `raise_exception`, a `tojson` without HTML escaping, and the
//! `bos_token` / `eos_token` / `add_generation_prompt` variables). Nothing is hand-written per model.

use std::path::{Path, PathBuf};

use minijinja::{Environment, ErrorKind, Value};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::tokenizer::{read_optional_json, token_content};

/// One turn of a conversation, as chat templates expect it (`role` is `system`, `user` or `assistant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    /// Shorthand constructor.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Turn terminators that end an assistant answer in common templates; used as stop strings when
/// the template mentions them.
const KNOWN_TURN_ENDS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
];

/// A compiled chat template with the special tokens it refers to.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    origin: PathBuf,
    bos: Option<String>,
    eos: Option<String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

/// Name under which the template is registered in its environment.
const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Loads the template of a checkpoint directory: `tokenizer_config.json`'s `chat_template` (a
    /// string, or a list of `{name, template}` where `default` wins) or else `chat_template.jinja`.
    pub fn from_dir(dir: &Path) -> Result<ChatTemplate> {
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg = read_optional_json(&cfg_path)?;
        let bos = token_content(cfg.as_ref().and_then(|c| c.get("bos_token")));
        let eos = token_content(cfg.as_ref().and_then(|c| c.get("eos_token")));
        let source = match cfg.as_ref().and_then(|c| c.get("chat_template")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(list)) => {
                let named = |want: Option<&str>| {
                    list.iter().find_map(|t| {
                        let name = t.get("name").and_then(|n| n.as_str());
                        let tpl = t.get("template").and_then(|n| n.as_str())?;
                        (want.is_none() || name == want).then(|| tpl.to_string())
                    })
                };
                named(Some("default"))
                    .or_else(|| named(None))
                    .ok_or_else(|| {
                        ModelError::bad_input(&cfg_path, "chat_template list holds no template")
                    })?
            }
            Some(_) => {
                return Err(ModelError::bad_input(
                    &cfg_path,
                    "chat_template must be a string or a list",
                ))
            }
            None => {
                let jinja = dir.join("chat_template.jinja");
                match std::fs::read_to_string(&jinja) {
                    Ok(s) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(ModelError::bad_input(
                            &cfg_path,
                            "no chat_template (neither in tokenizer_config.json nor chat_template.jinja)",
                        ))
                    }
                    Err(e) => return Err(ModelError::io(&jinja, e)),
                }
            }
        };
        Self::build(source, bos, eos, cfg_path)
    }

    /// A template given directly (a config override), with the bos/eos strings it may refer to.
    pub fn from_source(source: &str, bos: Option<&str>, eos: Option<&str>) -> Result<Self> {
        Self::build(
            source.to_string(),
            bos.map(String::from),
            eos.map(String::from),
            PathBuf::from("chat template"),
        )
    }

    fn build(
        source: String,
        bos: Option<String>,
        eos: Option<String>,
        origin: PathBuf,
    ) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_filter("tojson", python_tojson);
        env.add_template_owned(NAME, source.clone()).map_err(|e| {
            ModelError::bad_input(&origin, format!("chat template does not parse: {e}"))
        })?;
        Ok(Self {
            env,
            source,
            origin,
            bos,
            eos,
        })
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages`; `add_generation_prompt` appends the header that opens the assistant turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let tmpl = self
            .env
            .get_template(NAME)
            .map_err(|e| ModelError::Other(e.to_string()))?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos.as_deref(),
            eos_token => self.eos.as_deref(),
        };
        tmpl.render(ctx).map_err(|e| {
            let msg = match e.kind() {
                ErrorKind::InvalidOperation => e.detail().unwrap_or("template error").to_string(),
                _ => e.to_string(),
            };
            ModelError::bad_input(&self.origin, format!("chat template: {msg}"))
        })
    }

    /// Strings that end an answer: the eos token and the turn terminators the template uses.
    pub fn stop_strings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let candidates = self
            .eos
            .iter()
            .map(String::as_str)
            .chain(KNOWN_TURN_ENDS.iter().copied());
        for s in candidates {
            let wanted = Some(s) == self.eos.as_deref() || self.source.contains(s);
            if !s.is_empty() && wanted && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        out
    }

    /// For loss masking: the prompt (with generation prompt) and the answer continuation exactly as
    /// the full rendered conversation continues it. Errors when the full rendering does not start
    /// with the prompt (a template whose prompt and answer cannot be split).
    pub fn render_prompt_and_answer(
        &self,
        messages_without_answer: &[ChatMessage],
        answer: &str,
    ) -> Result<(String, String)> {
        let prompt = self.render(messages_without_answer, true)?;
        let mut all = messages_without_answer.to_vec();
        all.push(ChatMessage::new("assistant", answer));
        let full = self.render(&all, false)?;
        match full.strip_prefix(prompt.as_str()) {
            Some(rest) => Ok((prompt, rest.to_string())),
            None => Err(ModelError::bad_input(
                &self.origin,
                "chat template: the rendered conversation does not start with the rendered prompt, \
                 so prompt and answer cannot be separated",
            )),
        }
    }
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=indent)`, i.e.
/// Python's separators, key order as given, no HTML escaping (minijinja's built-in escapes `<`, `>`,
/// `&`, `'` and sorts keys).
fn python_tojson(
    value: Value,
    indent: Option<usize>,
    kwargs: minijinja::value::Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let indent = match kwargs.get::<Option<usize>>("indent")? {
        Some(i) => Some(i),
        None => indent,
    };
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_py_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_py_json(
    v: &Value,
    indent: Option<usize>,
    level: usize,
    out: &mut String,
) -> std::result::Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => match v.as_i64() {
            Some(i) if v.is_integer() => out.push_str(&i.to_string()),
            _ => {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                out.push_str(
                    &serde_json::Value::from(f)
                        .to_string()
                        .replace("null", "NaN"),
                );
            }
        },
        ValueKind::String => out.push_str(&quote(v.as_str().unwrap_or_default())),
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter()?.collect();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                out.push_str(&quote(&k.to_string()));
                out.push_str(": ");
                write_py_json(&v.get_item(k)?, indent, level + 1, out)?;
            }
            if !keys.is_empty() {
                newline(out, level);
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                write_py_json(item, indent, level + 1, out)?;
            }
            if !items.is_empty() {
                newline(out, level);
            }
            out.push(']');
        }
        _ => out.push_str(&quote(&v.to_string())),
    }
    Ok(())
}
