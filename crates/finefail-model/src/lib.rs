//! Llama-family decoder with LoRA for finefail, written on burn 0.22.
//!
//! What lives here: the Hugging Face `config.json` model description ([`config`]), the decoder
//! itself ([`llama`], whose network reads like the equations, fed positions and masks by
//! [`attention_input`]), the LoRA wrapper ([`lora`]), the numeric ops both call ([`ops`]: fused CPU
//! kernels or plain burn ops), checkpoint I/O for Hugging Face safetensors directories ([`weights`],
//! [`floats`]), PEFT adapters ([`peft`]) and GGUF files ([`gguf`], [`convert`]), the tokenizer and
//! chat template ([`tokenizer`], [`chat`]), generation with a KV cache (`cache`, [`sampling`],
//! [`generate`]), continuations scored after one prompt pass ([`continuations`]: label
//! log-likelihood), and a checkpoint loaded to chat with ([`chat_model`]). Imports run one way:
//! `llama → lora → ops → ops::fused → kernels`.
//! The crate never prints and never exits: errors are [`ModelError`] values.

pub mod attention_input;
pub mod bench;
mod cache;
pub mod chat;
pub mod chat_model;
pub mod config;
pub mod continuations;
pub mod convert;
pub mod device;
pub mod error;
pub mod floats;
pub mod frozen;
pub mod generate;
pub mod gguf;
pub mod llama;
pub mod lora;
pub mod memory;
pub mod ops;
pub mod peft;
pub mod precision;
pub mod quant;
pub mod sampling;
pub mod tokenizer;
pub mod weights;

pub use error::ModelError;
