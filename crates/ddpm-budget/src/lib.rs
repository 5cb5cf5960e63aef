//! # Chapter 10 — training on a budget
//!
//! The README's main job (`ddpm quickstart`) has ten minutes of a 2-core CPU. This chapter asks
//! which training recipe gives the most recognisable digits in that time, comparing recipes at
//! equal *wall-clock time* rather than equal steps: each candidate is the main job itself, run
//! by `plans/ch10-budget.plan` (`ddpm plan`), which writes each run's `quickstart.json` (what
//! it measured, planned and trained) and an `eval/eval.json` (400 digits judged by the course's
//! classifier, with the Fréchet distance) under `results/ch10/budget/`.
//!
//! This crate reads those runs back ([`results`]), tabulates and draws them ([`figures`]), and
//! shows why the x₀ and v objectives help: every objective is a weighted x₀ regression whose
//! weight is read off [`ddpm_loss::Objective::x0_loss_factor`] ([`weighting`]).

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 10` makes (which depends on this crate).
extern crate self as ddpm_budget;

// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod results;
pub mod weighting;

pub use results::{budget_dir, load_budget, recipe, BudgetRun};
