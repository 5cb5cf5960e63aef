//! The tensor operations the layers share, at the bottom of the crate (ops → conv and fused
//! kernels → device → layers → UNet): the activation type, shape reinterpretation, the
//! device-generic GroupNorm and SiLU compositions, and the CPU kernels' access to tensor data.

use dfdx::prelude::*;

/// A run-time shaped 4-D tensor: `[batch, channels, height, width]` or `[out, in, k, k]`.
pub type Rank4Dyn = (usize, usize, usize, usize);

/// Activations: `[batch, channels, height, width]`.
pub type Act<D, T> = Tensor<Rank4Dyn, f32, D, T>;

/// Reinterprets a tensor's shape type (const ↔ run-time dims, same sizes): no copy.
pub fn realized<S, Dst: Shape<Concrete = S::Concrete>, D: Device<f32>, T: Tape<f32, D>>(
    t: Tensor<S, f32, D, T>,
) -> Tensor<Dst, f32, D, T>
where
    S: Shape + RealizeShapeTo<Dst>,
{
    match t.try_realize::<Dst>() {
        Ok(t) => t,
        Err(_) => panic!("realized: the sizes differ"),
    }
}

/// Spreads a per-channel vector `[C]` over `[B, C, H, W]`. The parameter gets an empty tape
/// first, so that the (copying) broadcast records its gradient.
pub(crate) fn per_channel<const C: usize, D: Device<f32>, T: Tape<f32, D>>(
    p: &Tensor<Rank1<C>, f32, D>,
    shape: Rank4Dyn,
) -> Act<D, T> {
    realized::<_, (usize,), D, T>(p.retaped::<T>()).broadcast_like::<_, Axes3<0, 2, 3>>(&shape)
}

// ANCHOR: group_norm
/// GroupNorm composed from dfdx ops (any device): y = γ_c · (x − mean_g) / √(var_g + 1e-5) + β_c,
/// with mean and variance over each group's C/G channels and all pixels. The CPU runs the fused
/// kernel in [`crate::fused`], tested against this one.
pub fn group_norm_generic<const C: usize, D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    x: Act<D, T>,
    gamma: &Tensor<Rank1<C>, f32, D>,
    beta: &Tensor<Rank1<C>, f32, D>,
    groups: usize,
) -> Act<D, T> {
    let shape = *x.shape();
    let (b, c, h, w) = shape;
    assert_eq!(c, C, "GroupNorm<{C}> got {c} channels");
    let normed = x
        .reshape_like(&(b, groups, C / groups * h * w))
        .normalize::<Axis<2>>(1e-5)
        .reshape_like(&shape);
    normed * per_channel::<C, D, T>(gamma, shape) + per_channel::<C, D, T>(beta, shape)
}
// ANCHOR_END: group_norm

// ANCHOR: silu
/// SiLU (swish), x · σ(x). dfdx 0.13 has no SiLU; the second use of x gets an empty tape.
pub fn silu<S: Shape, D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    x: Tensor<S, f32, D, T>,
) -> Tensor<S, f32, D, T> {
    x.retaped::<T>().sigmoid() * x
}
// ANCHOR_END: silu

// ---------------------------------------------------------------------------------------------
// Tensor data for the CPU kernels. dfdx 0.13 keeps a tensor's storage private; what its public
// API allows without walking the tensor element by element (`as_vec` uses a strided iterator):
// a memcpy out of a contiguous tensor (`copy_into`), wrapping a Vec without a copy
// (`tensor_from_vec`), and direct access to gradient buffers (`get_or_alloc_mut`).
// ---------------------------------------------------------------------------------------------

/// A tensor's values in row-major order, copied in one memcpy (the tensor is made contiguous
/// first, which is free when it already is).
pub(crate) fn values<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Vec<f32> {
    let t = t.clone().contiguous();
    let mut out = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut out);
    out
}

/// Moves the gradient of `t` out of `grads` (its place left empty), to read it while other
/// gradients are written; [`put_grad`] returns it.
pub(crate) fn take_grad<S: Shape>(
    grads: &mut Gradients<f32, Cpu>,
    t: &Tensor<S, f32, Cpu>,
) -> Result<Vec<f32>, <Cpu as HasErr>::Err> {
    Ok(std::mem::take(&mut **grads.get_or_alloc_mut(t)?))
}

/// Puts a gradient taken with [`take_grad`] back.
pub(crate) fn put_grad<S: Shape>(
    grads: &mut Gradients<f32, Cpu>,
    t: &Tensor<S, f32, Cpu>,
    g: Vec<f32>,
) -> Result<(), <Cpu as HasErr>::Err> {
    **grads.get_or_alloc_mut(t)? = g;
    Ok(())
}

/// Adds `values` onto the gradient of `t` (allocating it if needed): how every hand-written
/// backward of the course hands its results to dfdx. Accumulating, never assigning, so a tensor
/// used in several places gets the sum of its gradients.
pub(crate) fn add_grad<S: Shape>(
    grads: &mut Gradients<f32, Cpu>,
    t: &Tensor<S, f32, Cpu>,
    values: &[f32],
) -> Result<(), <Cpu as HasErr>::Err> {
    let g: &mut Vec<f32> = grads.get_or_alloc_mut(t)?;
    assert_eq!(
        g.len(),
        values.len(),
        "add_grad: gradient of the wrong size"
    );
    g.iter_mut().zip(values).for_each(|(a, v)| *a += v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `values` reads a permuted (non-contiguous) tensor in its logical order, like `as_vec`.
    #[test]
    fn values_of_a_permuted_tensor_are_in_logical_order() {
        let dev: Cpu = Default::default();
        let t = dev.tensor_from_vec((0..6).map(|i| i as f32).collect(), (2usize, 3usize));
        let p = t.permute::<_, Axes2<1, 0>>();
        assert_eq!(values(&p), p.as_vec());
        assert_eq!(values(&p), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn silu_is_x_times_sigmoid() {
        let dev: Cpu = Default::default();
        let y = silu(dev.tensor([-2.0f32, 0.0, 3.0])).as_vec();
        for (x, v) in [-2.0f32, 0.0, 3.0].iter().zip(y) {
            assert!((v - x / (1.0 + (-x).exp())).abs() < 1e-6);
        }
    }
}
