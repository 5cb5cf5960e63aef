//! 2-D convolution: y[b, o, i, j] = bias[o] + Σ_{c, u, v} w[o, c, u, v] · x_pad[b, c, s·i + u, s·j + v],
//! with stride s and zero padding p on every side.

use dfdx::prelude::*;
use rayon::prelude::*;

pub use crate::ops::Rank4Dyn;
use crate::ops::{add_grad, put_grad, take_grad, values};

/// Every size of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_ch: usize,
    pub out_ch: usize,
    pub h: usize,
    pub w: usize,
    /// Square kernel side.
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeometry {
    /// From the input's and the weight's shapes; panics on inconsistent sizes (a model bug).
    pub fn new(x: [usize; 4], weight: [usize; 4], stride: usize, pad: usize) -> Self {
        let [batch, in_ch, h, w] = x;
        let [out_ch, w_in, k, k2] = weight;
        assert_eq!(
            w_in, in_ch,
            "conv2d: weight expects {w_in} input channels, the input has {in_ch}"
        );
        assert_eq!(k, k2, "conv2d: only square kernels, got {k}×{k2}");
        assert!(stride >= 1, "conv2d: stride must be ≥ 1");
        assert!(
            h + 2 * pad >= k && w + 2 * pad >= k,
            "conv2d: kernel {k} larger than padded input {h}×{w}+2·{pad}"
        );
        Self {
            batch,
            in_ch,
            out_ch,
            h,
            w,
            k,
            stride,
            pad,
        }
    }
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Rows of the im2col matrix: C·K·K.
    fn patch(&self) -> usize {
        self.in_ch * self.k * self.k
    }
    /// Columns of the im2col matrix: OH·OW.
    fn positions(&self) -> usize {
        self.out_h() * self.out_w()
    }
    /// The input pixel read by kernel offset (u, v) at output (i, j), or None in the padding
    /// (the definition the fast kernels' row-wise ranges implement; used by the reference).
    fn source(&self, i: usize, j: usize, u: usize, v: usize) -> Option<(usize, usize)> {
        let (r, c) = (
            (i * self.stride + u) as isize - self.pad as isize,
            (j * self.stride + v) as isize - self.pad as isize,
        );
        (r >= 0 && c >= 0 && (r as usize) < self.h && (c as usize) < self.w)
            .then_some((r as usize, c as usize))
    }
}

// ---------------------------------------------------------------------------------------------
// The reference: im2col as a constant 0/1 matrix, so that the whole convolution is dfdx
// matmuls, reshapes and permutes, differentiated by dfdx itself.
// ---------------------------------------------------------------------------------------------

/// The im2col selection matrix P, `[H·W, K·K·OH·OW]`: column (u·K + v)·OH·OW + i·OW + j has a
/// single 1 at the input pixel that kernel offset (u, v) reads for output (i, j), or no 1 at
/// all where it reads padding.
fn selection_matrix(g: &ConvGeometry) -> Vec<f32> {
    let (hw, cols) = (g.h * g.w, g.k * g.k * g.positions());
    let mut p = vec![0.0; hw * cols];
    for u in 0..g.k {
        for v in 0..g.k {
            for i in 0..g.out_h() {
                for j in 0..g.out_w() {
                    if let Some((r, c)) = g.source(i, j, u, v) {
                        let col = (u * g.k + v) * g.positions() + i * g.out_w() + j;
                        p[(r * g.w + c) * cols + col] = 1.0;
                    }
                }
            }
        }
    }
    p
}

// ANCHOR: reference
/// Convolution from dfdx ops: x·P gathers every patch (im2col as a matmul with the 0/1 matrix P),
/// one matmul with the reshaped weights does the rest. Gradients for x, weight and bias come
/// from dfdx's autodiff; put the tape on `x` and give `weight` and `bias` empty tapes
/// (`.retaped()`) so their gradients are recorded too.
pub fn conv2d_reference<D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    x: Tensor<Rank4Dyn, f32, D, T>,
    weight: Tensor<Rank4Dyn, f32, D, T>,
    bias: Tensor<(usize,), f32, D, T>,
    stride: usize,
    pad: usize,
) -> Tensor<Rank4Dyn, f32, D, T> {
    let (b, c, h, w) = *x.shape();
    let (o, _, k, _) = *weight.shape();
    let g = ConvGeometry::new([b, c, h, w], [o, c, k, k], stride, pad);
    let (kk, pos) = (k * k, g.positions());
    let p = x
        .device()
        .tensor_from_vec(selection_matrix(&g), (h * w, kk * pos));
    // [B·C, H·W] × [H·W, KK·P] → every patch value, then arranged as [B·P, C·KK].
    let cols = x.reshape_like(&(b * c, h * w)).matmul(p);
    let cols = cols
        .reshape_like(&(b, c, kk, pos))
        .permute::<_, Axes4<0, 3, 1, 2>>()
        .reshape_like(&(b * pos, c * kk));
    // [B·P, C·KK] × [C·KK, O] → [B, OH, OW, O] → [B, O, OH, OW].
    let w_mat = weight
        .reshape_like(&(o, c * kk))
        .permute::<_, Axes2<1, 0>>();
    let y = cols
        .matmul(w_mat)
        .reshape_like(&(b, g.out_h(), g.out_w(), o));
    let y = y.permute::<_, Axes4<0, 3, 1, 2>>();
    let shape = *y.shape();
    y + bias.broadcast_like::<_, Axes3<0, 2, 3>>(&shape)
}
// ANCHOR_END: reference

// ---------------------------------------------------------------------------------------------
// The fast CPU operation.
// ---------------------------------------------------------------------------------------------

/// c[m×n] (+)= a[m×k] · b[k×n], row-major slices; `a_t`/`b_t` read `a`/`b` as stored
/// transposed (k×m, n×k). A thin safe wrapper over `gemm`, single-threaded (callers parallelise
/// over images).
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul: buffer too small"
    );
    let (a_rs, a_cs) = if a_t {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (b_rs, b_cs) = if b_t {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    // SAFETY: the assert above keeps every index the strides produce inside the three buffers,
    // and `c` does not alias `a` or `b` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

// ANCHOR: im2col
/// The output columns j whose input column s·j + v − p lies inside 0..w, as a range.
fn valid_cols(g: &ConvGeometry, v: usize) -> std::ops::Range<usize> {
    // s·j + v ≥ p  ⇔  j ≥ ⌈(p − v)/s⌉;   s·j + v − p < w  ⇔  j < ⌈(w + p − v)/s⌉.
    let lo = g.pad.saturating_sub(v).div_ceil(g.stride);
    let hi = (g.w + g.pad)
        .saturating_sub(v)
        .div_ceil(g.stride)
        .min(g.out_w());
    lo.min(hi)..hi
}

/// Copies every patch of one image `x` (C×H×W) into `cols` (C·K·K × OH·OW): row (c, u, v), column
/// (i, j) holds x[c, s·i + u − p, s·j + v − p], or 0 in the padding. Works a row of the output
/// at a time: the valid columns are one range, copied in one go when the stride is 1.
fn im2col(x: &[f32], g: &ConvGeometry, cols: &mut [f32]) {
    let (pos, ow) = (g.positions(), g.out_w());
    for c in 0..g.in_ch {
        let plane = &x[c * g.h * g.w..][..g.h * g.w];
        for u in 0..g.k {
            for v in 0..g.k {
                let row = &mut cols[((c * g.k + u) * g.k + v) * pos..][..pos];
                let js = valid_cols(g, v);
                for i in 0..g.out_h() {
                    let out = &mut row[i * ow..][..ow];
                    let r = (i * g.stride + u) as isize - g.pad as isize;
                    if r < 0 || r as usize >= g.h || js.is_empty() {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[r as usize * g.w..][..g.w];
                    out[..js.start].fill(0.0);
                    out[js.end..].fill(0.0);
                    let first = js.start * g.stride + v - g.pad;
                    if g.stride == 1 {
                        out[js.clone()].copy_from_slice(&src[first..first + js.len()]);
                    } else {
                        for (k, o) in out[js.clone()].iter_mut().enumerate() {
                            *o = src[first + k * g.stride];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each entry of `cols` back onto the pixel it was copied from.
fn col2im_add(cols: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    let (pos, ow) = (g.positions(), g.out_w());
    for c in 0..g.in_ch {
        let plane = &mut dx[c * g.h * g.w..][..g.h * g.w];
        for u in 0..g.k {
            for v in 0..g.k {
                let row = &cols[((c * g.k + u) * g.k + v) * pos..][..pos];
                let js = valid_cols(g, v);
                for i in 0..g.out_h() {
                    let r = (i * g.stride + u) as isize - g.pad as isize;
                    if r < 0 || r as usize >= g.h || js.is_empty() {
                        continue;
                    }
                    let dst = &mut plane[r as usize * g.w..][..g.w];
                    let first = js.start * g.stride + v - g.pad;
                    for (k, val) in row[i * ow..][js.clone()].iter().enumerate() {
                        dst[first + k * g.stride] += val;
                    }
                }
            }
        }
    }
}
// ANCHOR_END: im2col

// ANCHOR: kernels
thread_local! {
    /// Each rayon thread's im2col matrices, reused from call to call: im2col and the products
    /// overwrite every entry they use, so a buffer needs neither a fresh allocation nor zeroing.
    static COLS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// `buf` grown to at least `n` entries, as a slice of exactly `n`.
fn scratch(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}

/// A 1×1, stride-1, unpadded convolution needs no im2col: the image is its own patch matrix.
fn is_pointwise(g: &ConvGeometry) -> bool {
    g.k == 1 && g.stride == 1 && g.pad == 0
}

/// y_b = W [O × C·K·K] · im2col(x_b) + bias, image by image in parallel.
pub fn conv2d_forward_cpu(x: &[f32], weight: &[f32], bias: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (img, out_img, pos, patch) = (
        g.in_ch * g.h * g.w,
        g.out_ch * g.positions(),
        g.positions(),
        g.patch(),
    );
    let mut y = vec![0.0; g.batch * out_img];
    y.par_chunks_mut(out_img).enumerate().for_each(|(b, yb)| {
        let xb = &x[b * img..][..img];
        for (o, row) in yb.chunks_mut(pos).enumerate() {
            row.fill(bias[o]);
        }
        COLS.with(|bufs| {
            let (a, _) = &mut *bufs.borrow_mut();
            let cols: &[f32] = if is_pointwise(g) {
                xb
            } else {
                let cols = scratch(a, patch * pos);
                im2col(xb, g, cols);
                cols
            };
            matmul(g.out_ch, pos, patch, weight, false, cols, false, yb, true);
        });
    });
    y
}

/// The three backward products for upstream gradient gy: dW = Σ_b gy_b · im2col(x_b)ᵀ,
/// dbias = Σ_{b, i, j} gy, dx_b = col2im(Wᵀ · gy_b) — or, for a stride-1 convolution that keeps
/// the size (padding (K − 1)/2), the same dx_b as a convolution of gy_b with the kernel flipped
/// and its channels swapped, which needs no scattering col2im. Per-image dW and dbias are summed
/// in image order, so the result does not depend on how rayon splits the work.
pub fn conv2d_backward_cpu(
    x: &[f32],
    weight: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (img, out_img, pos, patch) = (
        g.in_ch * g.h * g.w,
        g.out_ch * g.positions(),
        g.positions(),
        g.patch(),
    );
    let same = g.stride == 1 && 2 * g.pad + 1 == g.k && !is_pointwise(g);
    // The transposed convolution's geometry and kernel: O → C channels, w'[c, o, u, v] =
    // w[o, c, K−1−u, K−1−v].
    let back = ConvGeometry::new(
        [1, g.out_ch, g.h, g.w],
        [g.in_ch, g.out_ch, g.k, g.k],
        1,
        g.pad,
    );
    let flipped: Vec<f32> = if same {
        let kk = g.k * g.k;
        let mut f = vec![0.0; weight.len()];
        for o in 0..g.out_ch {
            for c in 0..g.in_ch {
                for t in 0..kk {
                    f[(c * g.out_ch + o) * kk + (kk - 1 - t)] = weight[(o * g.in_ch + c) * kk + t];
                }
            }
        }
        f
    } else {
        Vec::new()
    };
    let mut gx = vec![0.0; g.batch * img];
    let per_image: Vec<(Vec<f32>, Vec<f32>)> = gx
        .par_chunks_mut(img)
        .enumerate()
        .map(|(b, gxb)| {
            let (xb, gyb) = (&x[b * img..][..img], &gy[b * out_img..][..out_img]);
            let mut gw = vec![0.0; g.out_ch * patch];
            COLS.with(|bufs| {
                let (a, c) = &mut *bufs.borrow_mut();
                let cols: &[f32] = if is_pointwise(g) {
                    xb
                } else {
                    let cols = scratch(a, patch * pos);
                    im2col(xb, g, cols);
                    cols
                };
                matmul(g.out_ch, patch, pos, gyb, false, cols, true, &mut gw, false);
                if is_pointwise(g) {
                    matmul(patch, pos, g.out_ch, weight, true, gyb, false, gxb, false);
                } else if same {
                    let gcols = scratch(c, back.patch() * back.positions());
                    im2col(gyb, &back, gcols);
                    matmul(
                        g.in_ch,
                        pos,
                        back.patch(),
                        &flipped,
                        false,
                        gcols,
                        false,
                        gxb,
                        false,
                    );
                } else {
                    let gcols = scratch(c, patch * pos);
                    matmul(patch, pos, g.out_ch, weight, true, gyb, false, gcols, false);
                    col2im_add(gcols, g, gxb);
                }
            });
            let gb: Vec<f32> = gyb.chunks(pos).map(|r| r.iter().sum()).collect();
            (gw, gb)
        })
        .collect();
    let (mut gw, mut gb) = (vec![0.0; g.out_ch * patch], vec![0.0; g.out_ch]);
    for (w_b, b_b) in per_image {
        gw.iter_mut().zip(w_b).for_each(|(a, v)| *a += v);
        gb.iter_mut().zip(b_b).for_each(|(a, v)| *a += v);
    }
    (gx, gw, gb)
}
// ANCHOR_END: kernels

// ANCHOR: op
/// The fast convolution as a dfdx operation on the CPU. The tape rides on `x`; the backward op
/// it records adds the gradients of x, `weight` and `bias` (any shapes with 4 and 1 dimensions,
/// e.g. the const-shaped parameters of a module).
pub fn conv2d<
    T: Tape<f32, Cpu>,
    SW: Shape<Concrete = [usize; 4]>,
    SB: Shape<Concrete = [usize; 1]>,
>(
    x: Tensor<Rank4Dyn, f32, Cpu, T>,
    weight: &Tensor<SW, f32, Cpu>,
    bias: &Tensor<SB, f32, Cpu>,
    stride: usize,
    pad: usize,
) -> Tensor<Rank4Dyn, f32, Cpu, T> {
    let (b, c, h, w) = *x.shape();
    let g = ConvGeometry::new([b, c, h, w], weight.shape().concrete(), stride, pad);
    assert_eq!(
        bias.shape().concrete(),
        [g.out_ch],
        "conv2d: one bias per output channel"
    );
    let (x, mut tape) = x.split_tape();
    let (xv, wv) = (values(&x), values(weight));
    let y = x.device().tensor_from_vec(
        conv2d_forward_cpu(&xv, &wv, &values(bias), &g),
        (b, g.out_ch, g.out_h(), g.out_w()),
    );
    let (x_ghost, w_ghost, b_ghost, y_ghost) = (x.clone(), weight.clone(), bias.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let gy = take_grad(grads, &y_ghost)?;
        let (gx, gw, gb) = conv2d_backward_cpu(&xv, &wv, &gy, &g);
        put_grad(grads, &y_ghost, gy)?;
        add_grad(grads, &x_ghost, &gx)?;
        add_grad(grads, &w_ghost, &gw)?;
        add_grad(grads, &b_ghost, &gb)?;
        Ok(())
    });
    y.put_tape(tape)
}
// ANCHOR_END: op

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// (batch, in, out, h, w, k, stride, pad): stride 1 and 2, padding 0 and 1, kernels 1×1 and
    /// 3×3, odd and non-square sizes, batch > 1.
    type Cfg = (usize, usize, usize, usize, usize, usize, usize, usize);
    const CASES: [Cfg; 6] = [
        (2, 3, 4, 7, 5, 3, 1, 1),
        (3, 2, 3, 9, 8, 3, 2, 1),
        (2, 4, 2, 6, 6, 1, 1, 0),
        (1, 2, 3, 5, 7, 3, 2, 0),
        (2, 3, 2, 7, 7, 1, 2, 0),
        (2, 1, 2, 4, 4, 3, 1, 0),
    ];

    fn random(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    struct Case {
        x: Tensor<Rank4Dyn, f32, Cpu>,
        w: Tensor<Rank4Dyn, f32, Cpu>,
        b: Tensor<(usize,), f32, Cpu>,
        /// Random weights of the scalar loss Σ r · y, so every output gets its own gradient.
        r: Tensor<Rank4Dyn, f32, Cpu>,
        stride: usize,
        pad: usize,
    }

    fn case(dev: &Cpu, (bn, c, o, h, w, k, s, p): Cfg, seed: u64) -> Case {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = ConvGeometry::new([bn, c, h, w], [o, c, k, k], s, p);
        Case {
            x: dev.tensor_from_vec(random(bn * c * h * w, &mut rng), (bn, c, h, w)),
            w: dev.tensor_from_vec(random(o * c * k * k, &mut rng), (o, c, k, k)),
            b: dev.tensor_from_vec(random(o, &mut rng), (o,)),
            r: dev.tensor_from_vec(
                random(bn * o * g.out_h() * g.out_w(), &mut rng),
                (bn, o, g.out_h(), g.out_w()),
            ),
            stride: s,
            pad: p,
        }
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    /// The fast op and the reference agree on the output and on the gradients for x, weight
    /// and bias, for every case.
    #[test]
    fn fast_conv_matches_the_reference() {
        let dev: Cpu = Default::default();
        for (n, &cfg) in CASES.iter().enumerate() {
            let c = case(&dev, cfg, n as u64);
            let y_ref = conv2d_reference(
                c.x.leaky_trace(),
                c.w.retaped(),
                c.b.retaped(),
                c.stride,
                c.pad,
            );
            let y_fast = conv2d(c.x.leaky_trace(), &c.w, &c.b, c.stride, c.pad);
            assert_eq!(y_ref.shape(), y_fast.shape(), "case {n}");
            close(
                &y_fast.as_vec(),
                &y_ref.as_vec(),
                &format!("case {n} output"),
            );
            let g_ref = (y_ref * c.r.clone()).sum().backward();
            let g_fast = (y_fast * c.r.clone()).sum().backward();
            close(
                &g_fast.get(&c.x).as_vec(),
                &g_ref.get(&c.x).as_vec(),
                &format!("case {n} dx"),
            );
            close(
                &g_fast.get(&c.w).as_vec(),
                &g_ref.get(&c.w).as_vec(),
                &format!("case {n} dw"),
            );
            close(
                &g_fast.get(&c.b).as_vec(),
                &g_ref.get(&c.b).as_vec(),
                &format!("case {n} db"),
            );
        }
    }

    /// The loss Σ r · conv(x, w, b) is linear in each of x, w and b, so a central difference
    /// with step 0.5 is exact up to rounding: every gradient entry of the fast op matches it.
    #[test]
    fn fast_conv_gradients_match_finite_differences() {
        let dev: Cpu = Default::default();
        for (n, &cfg) in CASES.iter().enumerate() {
            let c = case(&dev, cfg, 100 + n as u64);
            let loss = |x: &Tensor<Rank4Dyn, f32, Cpu>,
                        w: &Tensor<Rank4Dyn, f32, Cpu>,
                        b: &Tensor<(usize,), f32, Cpu>| {
                let y = conv2d(x.clone(), w, b, c.stride, c.pad);
                y.as_vec()
                    .iter()
                    .zip(c.r.as_vec())
                    .map(|(a, r)| (a * r) as f64)
                    .sum::<f64>()
            };
            let grads = (conv2d(c.x.leaky_trace(), &c.w, &c.b, c.stride, c.pad) * c.r.clone())
                .sum()
                .backward();
            let h = 0.5f32;
            let perturb = |t: &Tensor<Rank4Dyn, f32, Cpu>, i: usize, d: f32| {
                let mut v = t.as_vec();
                v[i] += d;
                dev.tensor_from_vec(v, *t.shape())
            };
            let gx = grads.get(&c.x).as_vec();
            for i in (0..gx.len()).step_by(7) {
                let fd = (loss(&perturb(&c.x, i, h), &c.w, &c.b)
                    - loss(&perturb(&c.x, i, -h), &c.w, &c.b))
                    / (2.0 * h as f64);
                assert!(
                    (fd - gx[i] as f64).abs() < 1e-3,
                    "case {n} dx[{i}]: {fd} vs {}",
                    gx[i]
                );
            }
            let gw = grads.get(&c.w).as_vec();
            for i in (0..gw.len()).step_by(3) {
                let fd = (loss(&c.x, &perturb(&c.w, i, h), &c.b)
                    - loss(&c.x, &perturb(&c.w, i, -h), &c.b))
                    / (2.0 * h as f64);
                assert!(
                    (fd - gw[i] as f64).abs() < 1e-3,
                    "case {n} dw[{i}]: {fd} vs {}",
                    gw[i]
                );
            }
            let gb = grads.get(&c.b).as_vec();
            for i in 0..gb.len() {
                let mut v = c.b.as_vec();
                v[i] += h;
                let up = loss(&c.x, &c.w, &dev.tensor_from_vec(v.clone(), (v.len(),)));
                v[i] -= 2.0 * h;
                let down = loss(&c.x, &c.w, &dev.tensor_from_vec(v.clone(), (v.len(),)));
                let fd = (up - down) / (2.0 * h as f64);
                assert!(
                    (fd - gb[i] as f64).abs() < 1e-3,
                    "case {n} db[{i}]: {fd} vs {}",
                    gb[i]
                );
            }
        }
    }

    /// A hand-worked case: a 3×3 input, a 2×2 kernel of ones, stride 1, no padding: each output
    /// is the sum of a 2×2 block, plus the bias.
    #[test]
    fn box_filter_by_hand() {
        let dev: Cpu = Default::default();
        let x = dev.tensor_from_vec((1..=9).map(|v| v as f32).collect(), (1, 1, 3, 3));
        let w = dev.tensor_from_vec(vec![1.0; 4], (1, 1, 2, 2));
        let b = dev.tensor_from_vec(vec![0.5], (1,));
        let y = conv2d(x.clone(), &w, &b, 1, 0);
        assert_eq!(*y.shape(), (1, 1, 2, 2));
        assert_eq!(y.as_vec(), vec![12.5, 16.5, 24.5, 28.5]);
        let y_ref = conv2d_reference(x, w, b, 1, 0);
        assert_eq!(y_ref.as_vec(), vec![12.5, 16.5, 24.5, 28.5]);
    }

    /// Const-shaped parameters (as a module stores them) work with the fast op.
    #[test]
    fn const_shaped_parameters() {
        let dev: Cpu = Default::default();
        let w: Tensor<Rank4<2, 1, 3, 3>, f32, Cpu> = dev.sample_normal();
        let b: Tensor<Rank1<2>, f32, Cpu> = dev.zeros();
        let x: Tensor<Rank4Dyn, f32, Cpu> = dev.sample_normal_like(&(3, 1, 8, 8));
        let g = (conv2d(x.leaky_trace(), &w, &b, 2, 1)).sum().backward();
        assert_eq!(g.get(&w).as_vec().len(), 18);
        assert!(
            g.get(&b).as_vec().iter().all(|&v| v == 3.0 * 16.0),
            "each bias feeds 3·4·4 outputs"
        );
    }
}
