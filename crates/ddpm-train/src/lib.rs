//! # Chapter 8 — a UNet trained on MNIST, sampled, and measured
//!
//! Chapter 7's UNet, trained with chapter 6's Algorithm 1 on real digits and sampled with
//! Algorithm 2, behind one command (`ddpm`, in `src/bin/ddpm.rs`):
//!
//! - [`train`]: the loop, with an exponential moving average of the weights, gradient clipping,
//!   a warm-up and cosine learning rate, checkpoints ([`checkpoint`]) written atomically every
//!   N steps, `--resume`, Ctrl-C, and a stop on a non-finite loss.
//! - [`adam`]: Adam with its moments kept as model copies, so a checkpoint can hold them and a
//!   resumed run is the same run.
//! - [`sample`]: Algorithm 2 (and chapter 9's faster samplers, which `ddpm sample` uses by
//!   default) on images, with the frames of the denoising.
//! - [`commands`]: what the `ddpm` subcommands do (sampling a checkpoint of any preset,
//!   evaluating it), as library functions the binary calls.
//! - [`cli`]: the subcommands' flags (clap definitions) and their defaults, tested here; the
//!   binary parses with them and dispatches.
//! - [`classifier`] and [`frechet`]: a small MNIST classifier and the Fréchet distance between
//!   its features of generated and real digits; [`eval`] puts them together with the
//!   variational bound of chapter 4 in bits per dimension.
//! - [`noisy_classifier`]: chapter 9's classifier guidance — a classifier of noisy digits and
//!   the denoiser its gradient steers.

pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 08` makes (which depends on this crate).
extern crate self as ddpm_train;

pub mod adam;
pub mod checkpoint;
pub mod classifier;
pub mod cli;
pub mod commands;
pub mod config;
pub mod eval;
// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod frechet;
pub mod net;
pub mod noisy_classifier;
pub mod plan;
pub mod quickstart;
pub mod sample;
pub mod train;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use config::{ConfigError, TrainConfig};
pub use net::{DiffusionNet, Preset};
pub use train::{fresh, load_checkpoint, train, train_labelled, Outcome, RunOptions, TrainError};
