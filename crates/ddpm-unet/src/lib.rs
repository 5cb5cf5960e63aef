//! # Chapter 7 — the UNet, with a 2-D convolution for dfdx on stable Rust
//!
//! dfdx 0.13 compiles its convolution only with its `nightly` feature, which stable Rust cannot
//! use. The course therefore writes its own, twice:
//!
//! - [`conv::conv2d_reference`]: composed from differentiable dfdx ops, device-generic; dfdx's
//!   autodiff provides its gradients. Short, slow, and the yardstick.
//! - [`conv::conv2d`]: a CPU operation with a hand-written backward — im2col, one GEMM per image
//!   (the `gemm` crate dfdx itself uses), images in parallel with rayon.
//!
//! The tests check the two against each other and against finite differences.
//!
//! On top of it, [`blocks`] has GroupNorm, SiLU, the ResBlock (time embedding added, or as a
//! scale and shift — adaptive group norm; dropout while training), and spatial
//! self-attention; [`unet`] assembles a three-resolution UNet for 1×28×28 images (the time
//! embedding is chapter 6's `timestep_embedding`); [`figures`] draws its architecture. The
//! benchmark against an identical PyTorch model is in `bench/`.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 07` makes (which depends on this crate).
extern crate self as ddpm_unet;

pub mod blocks;
pub mod conv;
pub mod device;
// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod fused;
pub mod moves;
pub mod ops;
pub mod unet;

pub use conv::{conv2d, conv2d_reference, ConvGeometry};
pub use device::ConvDevice;
pub use unet::{upsample, DeviceUNet, MnistUNet, SmallUNet, TinyUNet, UNet, UNetConfig};

/// Keeps freed memory in the process instead of handing it back to the kernel at once. A
/// training step allocates and frees the same few hundred megabytes of activations every step;
/// with glibc's defaults (large blocks mapped fresh from the kernel, freed memory trimmed), the
/// kernel maps and zeroes those pages again on every step — millions of page faults. Call it
/// once at the start of a program that trains or samples. glibc on Linux only (a no-op
/// elsewhere); `DDPM_KEEP_MEMORY=0` turns it off, for comparisons.
pub fn keep_freed_memory() {
    if std::env::var("DDPM_KEEP_MEMORY").is_ok_and(|v| v == "0") {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning parameters; it is called before the
    // program allocates in earnest, and any value is valid for these three.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
