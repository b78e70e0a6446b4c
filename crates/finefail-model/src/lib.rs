//! Llama-family decoder with LoRA for finefail, written on burn 0.22.
//!
//! What lives here: the Hugging Face `config.json` model description ([`config`]), the decoder
//! itself ([`llama`], one file that reads like the equations), the LoRA wrapper ([`lora`]),
//! checkpoint I/O for Hugging Face safetensors directories ([`weights`]), PEFT adapters ([`peft`])
//! and GGUF files ([`gguf`], [`convert`]), the tokenizer and chat template ([`tokenizer`],
//! [`chat`]), and generation with a KV cache ([`cache`], [`sampling`], [`generate`]).
//! The crate never prints and never exits: errors are [`ModelError`] values.

pub mod bench;
pub mod cache;
pub mod chat;
pub mod config;
pub mod convert;
pub mod device;
pub mod error;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod llama;
pub mod lora;
pub mod peft;
pub mod sampling;
pub mod tokenizer;
pub mod weights;

pub use error::ModelError;
