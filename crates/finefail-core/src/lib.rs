//! The bottom of the finefail workspace: the few names and helpers that every other crate shares,
//! defined once so that no crate parses another's strings again.
//!
//! - [`ArmId`] and [`AnswerContext`]: what an arm is (`{dataset}/{model}/n{N}[/s{seed}][@none|@gold]`, plus
//!   the in-context `icl{K}` and training-format segments) and what it answers from. Tables store arm names as strings; every crate parses them here.
//! - [`RunLayout`] and [`files`]: where a run folder keeps each artefact, and the file names of the
//!   canonical tables.
//! - [`atomic`]: the one atomic writer (temporary name, fsync, rename), so nothing is half-written.
//! - [`cache_root`]: where every cache across runs lives (`$FINEFAIL_CACHE`).
//! - [`splitmix`]: the one seeded generator behind every seeded draw (splits, batches, LoRA
//!   initialisation, sampling, bootstrap seeding).
//! - [`stop`]: the stop flag a Ctrl-C sets and the long loops poll, so a run stops at a safe point.
//!
//! It depends on no crate of ours and on nothing heavy (serde, tempfile), so every crate can use it.

pub mod arm;
pub mod atomic;
pub mod cache_dir;
pub mod error;
pub mod layout;
pub mod splitmix;
pub mod stop;

pub use arm::{AnswerContext, ArmId};
pub use cache_dir::cache_root;
pub use error::{AtomicError, BadArm};
pub use layout::{files, RunLayout};
pub use stop::StopFlag;
