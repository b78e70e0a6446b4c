//! One module per command group; each turns parsed arguments into library calls.

pub mod bench;
pub mod data;
pub mod finetune;
pub mod model;
pub mod rag;
pub mod run;
pub mod score;
