//! What every sampler asks of a network: its output at x_t.

use ddpm_forward::Rows;
use dfdx::prelude::*;

/// A network, or any function, that sees a batch x_t as rows (`[B, N]`) with each row's step
/// and returns its output for every row: ε̂, x̂₀ or v̂, as the [`Diffusion`](crate::Diffusion)'s
/// objective says. A trait object (`&dyn Denoiser<D>`), so a sampler is compiled once for
/// every network.
pub trait Denoiser<D: Device<f32>> {
    fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D>;
    /// Whether each output row is N numbers of prediction followed by N of v, the network's own
    /// reverse variance (Improved DDPM; see [`Diffusion::p_mean_variance`](crate::Diffusion)).
    fn learns_variance(&self) -> bool {
        false
    }
    /// Network evaluations one `denoise` costs (classifier-free guidance makes two).
    fn network_calls(&self) -> usize {
        1
    }
}
