//! Project and file generation for `dspy-cli new` and `dspy-cli generate`.
//!
//! Pure logic: name rules, provider tables, the signature parser and the templates (embedded
//! in the binary). It never prompts and never starts Python; `project.rs` is the only part
//! that writes to disk.

pub(crate) mod model;
pub(crate) mod names;
pub(crate) mod project;
pub(crate) mod signature;
pub(crate) mod templates;
