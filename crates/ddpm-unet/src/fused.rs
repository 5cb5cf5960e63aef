//! Fused CPU kernels for the UNet's element-wise work: GroupNorm with its affine, and SiLU, each
//! one pass forward and one pass backward, parallel with rayon. dfdx composes GroupNorm from
//! about ten single-threaded ops, each allocating; profiling the training step put them next in
//! line after the convolution.

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::ops::{add_grad, put_grad, take_grad, values, Act};

/// Per (image, group): mean and 1/√(var + ε) of its C/G·H·W values, and the normalised values.
fn normalise_groups(x: &[f32], group_len: usize, eps: f32) -> (Vec<f32>, Vec<(f32, f32)>) {
    let mut xhat = vec![0.0; x.len()];
    let stats: Vec<(f32, f32)> = xhat
        .par_chunks_mut(group_len)
        .zip(x.par_chunks(group_len))
        .map(|(out, xs)| {
            let n = xs.len() as f64;
            let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
            let rstd = 1.0 / (var + eps as f64).sqrt();
            for (o, &v) in out.iter_mut().zip(xs) {
                *o = ((v as f64 - mean) * rstd) as f32;
            }
            (mean as f32, rstd as f32)
        })
        .collect();
    (xhat, stats)
}

// ANCHOR: group_norm_fused
/// GroupNorm + affine as one CPU op: y = γ_c x̂ + β_c with x̂ normalised per (image, group).
/// Backward: dβ_c = Σ dy, dγ_c = Σ dy·x̂, and with g = dy·γ_c,
/// dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)), the means over the group.
pub fn group_norm_cpu<T: Tape<f32, Cpu>, const C: usize>(
    x: Act<Cpu, T>,
    gamma: &Tensor<Rank1<C>, f32, Cpu>,
    beta: &Tensor<Rank1<C>, f32, Cpu>,
    groups: usize,
    eps: f32,
) -> Act<Cpu, T> {
    let shape = *x.shape();
    let (b, c, h, w) = shape;
    assert!(
        c == C && C.is_multiple_of(groups),
        "GroupNorm<{C}> with {groups} groups got {c} channels"
    );
    let (hw, group_len) = (h * w, C / groups * h * w);
    let (x, mut tape) = x.split_tape();
    let (xhat, stats) = normalise_groups(&values(&x), group_len, eps);
    let (gv, bv) = (values(gamma), values(beta));
    let mut y = vec![0.0; xhat.len()];
    y.par_chunks_mut(hw)
        .zip(xhat.par_chunks(hw))
        .enumerate()
        .for_each(|(i, (out, xs))| {
            let ch = i % C;
            for (o, &v) in out.iter_mut().zip(xs) {
                *o = gv[ch] * v + bv[ch];
            }
        });
    let y = x.device().tensor_from_vec(y, shape);
    let (x_ghost, g_ghost, b_ghost, y_ghost) = (x.clone(), gamma.clone(), beta.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let dy = take_grad(grads, &y_ghost)?;
        // Per (image, group): dx, and this group's contributions to dγ and dβ per channel.
        let per_group: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = (0..b * groups)
            .into_par_iter()
            .map(|k| {
                let range = k * group_len..(k + 1) * group_len;
                let (dys, xs) = (&dy[range.clone()], &xhat[range]);
                let first_ch = (k % groups) * (C / groups);
                let (mut dgamma, mut dbeta) = (vec![0.0f32; C / groups], vec![0.0f32; C / groups]);
                let (mut mean_g, mut mean_gx) = (0.0f64, 0.0f64);
                for (j, (&d, &xv)) in dys.iter().zip(xs).enumerate() {
                    let local = j / hw;
                    dbeta[local] += d;
                    dgamma[local] += d * xv;
                    let g = (d * gv[first_ch + local]) as f64;
                    mean_g += g;
                    mean_gx += g * xv as f64;
                }
                let n = group_len as f64;
                let (mean_g, mean_gx, rstd) = (mean_g / n, mean_gx / n, stats[k].1 as f64);
                let dx = dys
                    .iter()
                    .zip(xs)
                    .enumerate()
                    .map(|(j, (&d, &xv))| {
                        let g = (d * gv[first_ch + j / hw]) as f64;
                        (rstd * (g - mean_g - xv as f64 * mean_gx)) as f32
                    })
                    .collect();
                (dx, dgamma, dbeta)
            })
            .collect();
        let (mut dgamma, mut dbeta) = (vec![0.0f32; C], vec![0.0f32; C]);
        let mut dx = Vec::with_capacity(b * c * hw);
        for (k, (dxk, dg, db)) in per_group.into_iter().enumerate() {
            let first_ch = (k % groups) * (C / groups);
            for (i, (g, bb)) in dg.iter().zip(&db).enumerate() {
                dgamma[first_ch + i] += g;
                dbeta[first_ch + i] += bb;
            }
            dx.extend(dxk);
        }
        put_grad(grads, &y_ghost, dy)?;
        add_grad(grads, &x_ghost, &dx)?;
        add_grad(grads, &g_ghost, &dgamma)?;
        add_grad(grads, &b_ghost, &dbeta)?;
        Ok(())
    });
    y.put_tape(tape)
}
// ANCHOR_END: group_norm_fused

/// SiLU as one CPU op: y = x·σ(x); dx = dy · σ(x) · (1 + x (1 − σ(x))).
pub fn silu_cpu<T: Tape<f32, Cpu>>(x: Act<Cpu, T>) -> Act<Cpu, T> {
    let shape = *x.shape();
    let (x, mut tape) = x.split_tape();
    let xv = values(&x);
    let y: Vec<f32> = xv.par_iter().map(|&v| v / (1.0 + (-v).exp())).collect();
    let y = x.device().tensor_from_vec(y, shape);
    let (x_ghost, y_ghost) = (x.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let dy = take_grad(grads, &y_ghost)?;
        let dx: Vec<f32> = xv
            .par_iter()
            .zip(dy.par_iter())
            .map(|(&v, &d)| {
                let s = 1.0 / (1.0 + (-v).exp());
                d * s * (1.0 + v * (1.0 - s))
            })
            .collect();
        put_grad(grads, &y_ghost, dy)?;
        add_grad(grads, &x_ghost, &dx)?;
        Ok(())
    });
    y.put_tape(tape)
}
