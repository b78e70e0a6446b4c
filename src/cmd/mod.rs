//! One module per command (a command group for `data`, `model` and `bench`); each turns parsed
//! arguments into library calls.

pub mod answer;
pub mod bench;
pub mod data;
pub mod finetune;
pub mod generate;
pub mod model;
pub mod precision;
pub mod retrieve;
pub mod run;
pub mod score;
pub mod step;
