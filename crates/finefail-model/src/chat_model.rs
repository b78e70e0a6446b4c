//! A checkpoint ready to chat: the decoder with an optional adapter merged in, its tokenizer and its
//! chat template, with the glue between them (prompt rendering, stop tokens, batched answers).

use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::{ModelError, Result};
use crate::generate::{generate, generate_scoring_first, Generation, GenerationConfig};
use crate::llama::Llama;
use crate::peft::load_adapter;
use crate::precision::Precision;
use crate::sampling::SamplingConfig;
use crate::tokenizer::Tokenizer;
use burn::tensor::Device;
use std::path::Path;

/// A checkpoint ready to answer chat prompts: the model (with an optional adapter merged in), its
/// tokenizer and its chat template. This is what `finefail generate` and batched RAG answering use.
pub struct ChatModel {
    /// The decoder.
    pub model: Llama,
    /// The checkpoint's tokenizer.
    pub tokenizer: Tokenizer,
    /// The checkpoint's chat template (or an override).
    pub template: ChatTemplate,
}

impl ChatModel {
    /// Loads `dir` (config, weights, tokenizer, template) onto `device` in f32; with `adapter`,
    /// loads that PEFT adapter and merges it into the weights (inference pays nothing for it).
    pub fn load(dir: &Path, adapter: Option<&Path>, device: &Device) -> Result<Self> {
        Self::load_with(dir, adapter, device, Precision::F32)
    }

    /// [`ChatModel::load`] with the base stored as `precision` says (resolved). An adapter is
    /// merged only into an f32 base; on a 16-bit or quantized base it stays a separate f32 path.
    pub fn load_with(
        dir: &Path,
        adapter: Option<&Path>,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let tokenizer = Tokenizer::from_dir(dir)?;
        let template = ChatTemplate::from_dir(dir)?;
        let mut model = Llama::load_with(dir, device, precision)?;
        check_vocab(&model, &tokenizer, dir)?;
        if let Some(adapter) = adapter {
            load_adapter(&mut model, adapter)?;
            model.merge_lora();
        }
        Ok(Self {
            model,
            tokenizer,
            template,
        })
    }

    /// Prompt token ids of one conversation, rendered with the chat template and the header of the
    /// assistant's turn. The template writes the special tokens itself, so none are added.
    pub fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let text = self.template.render(messages, true)?;
        self.tokenizer.encode(&text, false)
    }

    /// Generation settings for this checkpoint: its end-of-sequence ids, plus the template's stop
    /// strings (those that are single special tokens become stop ids, the others are matched in text).
    pub fn generation_config(
        &self,
        max_new_tokens: usize,
        sampling: SamplingConfig,
    ) -> GenerationConfig {
        let mut eos = self.tokenizer.eos_token_ids();
        for id in &self.model.config().eos_token_ids {
            if !eos.contains(id) {
                eos.push(*id);
            }
        }
        let mut stop_strings = Vec::new();
        for s in self.template.stop_strings() {
            match self.tokenizer.token_to_id(&s) {
                Some(id) if !eos.contains(&id) => eos.push(id),
                Some(_) => {}
                None => stop_strings.push(s),
            }
        }
        GenerationConfig {
            max_new_tokens,
            sampling,
            eos_token_ids: eos,
            stop_strings,
            use_cache: true,
        }
    }

    /// Answers each conversation (one batch; callers choose the batch size).
    pub fn answer(
        &self,
        conversations: &[Vec<ChatMessage>],
        config: &GenerationConfig,
    ) -> Result<Vec<Generation>> {
        let prompts = conversations
            .iter()
            .map(|m| self.prompt_tokens(m))
            .collect::<Result<Vec<_>>>()?;
        let decode = |ids: &[u32]| self.tokenizer.decode(ids, true);
        generate(&self.model, &prompts, config, &decode)
    }

    /// [`ChatModel::answer`], plus the log-probability of each id in `first_tokens[i]` as the
    /// first token of answer `i` (one list per conversation, or none), from the generation's own
    /// first step ([`generate_scoring_first`]): label questions scored without a pass of their own.
    pub fn answer_scoring_first(
        &self,
        conversations: &[Vec<ChatMessage>],
        config: &GenerationConfig,
        first_tokens: &[Vec<u32>],
    ) -> Result<(Vec<Generation>, Vec<Vec<f64>>)> {
        let prompts = conversations
            .iter()
            .map(|m| self.prompt_tokens(m))
            .collect::<Result<Vec<_>>>()?;
        let decode = |ids: &[u32]| self.tokenizer.decode(ids, true);
        generate_scoring_first(&self.model, &prompts, config, &decode, first_tokens)
    }
}

/// A tokenizer that can produce ids beyond the embedding would index out of range: refuse it.
pub fn check_vocab(model: &Llama, tokenizer: &Tokenizer, dir: &Path) -> Result<()> {
    let (tok, emb) = (tokenizer.vocab_size(), model.config().vocab_size);
    if tok > emb {
        return Err(ModelError::bad_input(
            dir,
            format!(
                "tokenizer vocabulary ({tok}) is larger than the model's embedding ({emb} rows)"
            ),
        ));
    }
    Ok(())
}
