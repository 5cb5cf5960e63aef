//! ddpm-train's integration tests, as one test binary: each binary links the UNet's generic
//! code compiled anew at opt-level 3, so five binaries cost `cargo test` about a minute more to
//! build than one. Each file is still its own module, run as
//! `cargo test -p ddpm-train --test integration guidance::` (and so on). The hostile-checkpoint
//! tests stay a binary of their own: they install a capping global allocator.

mod classifier;
mod cli;
mod guidance;
mod learned_variance;
mod training;
