//! Parallel CPU kernels for the UNet's data movement: the residual add, the time embedding added
//! per channel, the skip concatenation and the 2× upsampling. dfdx 0.13 runs each of these on one
//! thread, through a strided index per element, and its backward passes (a broadcast's is a sum)
//! the same way; here each is one parallel pass forward and one backward. The device-generic
//! compositions they replace are [`ConvDevice`](crate::ConvDevice)'s default methods, and the
//! tests below hold the two to the same values and gradients.

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::ops::{add_grad, put_grad, take_grad, values, Act};

/// Elements per parallel task: large enough that rayon's scheduling is noise.
const CHUNK: usize = 1 << 14;

/// a + b, same shape; both gradients are dy.
pub fn add_cpu<T: Tape<f32, Cpu> + Merge<T>>(a: Act<Cpu, T>, b: Act<Cpu, T>) -> Act<Cpu, T> {
    let shape = *a.shape();
    assert_eq!(shape, *b.shape(), "add: the shapes differ");
    let (a, ta) = a.split_tape();
    let (b, tb) = b.split_tape();
    let mut tape = ta.merge(tb);
    let mut y = values(&a);
    let bv = values(&b);
    y.par_chunks_mut(CHUNK)
        .zip(bv.par_chunks(CHUNK))
        .for_each(|(o, v)| o.iter_mut().zip(v).for_each(|(o, v)| *o += v));
    let y = a.device().tensor_from_vec(y, shape);
    let (a_ghost, b_ghost, y_ghost) = (a.clone(), b.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let dy = take_grad(grads, &y_ghost)?;
        add_grad(grads, &a_ghost, &dy)?;
        add_grad(grads, &b_ghost, &dy)?;
        put_grad(grads, &y_ghost, dy)
    });
    y.put_tape(tape)
}

/// h + e spread over the pixels: `[B, C, H, W] + [B, C]`. de[b, c] = Σ over the pixels of dy.
pub fn add_per_channel_cpu<T: Tape<f32, Cpu> + Merge<T>>(
    h: Act<Cpu, T>,
    e: Tensor<(usize, usize), f32, Cpu, T>,
) -> Act<Cpu, T> {
    let shape = *h.shape();
    let (b, c, hh, ww) = shape;
    assert_eq!(
        *e.shape(),
        (b, c),
        "add_per_channel: {shape:?} + {:?}",
        e.shape()
    );
    let hw = hh * ww;
    let (h, th) = h.split_tape();
    let (e, te) = e.split_tape();
    let mut tape = th.merge(te);
    let mut y = values(&h);
    let ev = values(&e);
    y.par_chunks_mut(hw)
        .zip(ev.par_iter())
        .for_each(|(o, &v)| o.iter_mut().for_each(|o| *o += v));
    let y = h.device().tensor_from_vec(y, shape);
    let (h_ghost, e_ghost, y_ghost) = (h.clone(), e.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let dy = take_grad(grads, &y_ghost)?;
        let de: Vec<f32> = dy.par_chunks(hw).map(|d| d.iter().sum()).collect();
        add_grad(grads, &h_ghost, &dy)?;
        add_grad(grads, &e_ghost, &de)?;
        put_grad(grads, &y_ghost, dy)
    });
    y.put_tape(tape)
}

/// `[B, C1, H, W]` and `[B, C2, H, W]` side by side along the channels: per image, a's block then
/// b's. The backward splits dy the same way.
pub fn concat_channels_cpu<T: Tape<f32, Cpu> + Merge<T>>(
    a: Act<Cpu, T>,
    b: Act<Cpu, T>,
) -> Act<Cpu, T> {
    let ((n, c1, h, w), (n2, c2, h2, w2)) = (*a.shape(), *b.shape());
    assert!(
        n == n2 && h == h2 && w == w2,
        "concat: {:?} and {:?} differ outside the channels",
        a.shape(),
        b.shape()
    );
    let (la, lb) = (c1 * h * w, c2 * h * w);
    let (a, ta) = a.split_tape();
    let (b, tb) = b.split_tape();
    let mut tape = ta.merge(tb);
    let (av, bv) = (values(&a), values(&b));
    let mut y = vec![0.0; n * (la + lb)];
    y.par_chunks_mut(la + lb)
        .zip(av.par_chunks(la).zip(bv.par_chunks(lb)))
        .for_each(|(o, (x1, x2))| {
            o[..la].copy_from_slice(x1);
            o[la..].copy_from_slice(x2);
        });
    let y = a.device().tensor_from_vec(y, (n, c1 + c2, h, w));
    let (a_ghost, b_ghost, y_ghost) = (a.clone(), b.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let dy = take_grad(grads, &y_ghost)?;
        let (mut da, mut db) = (vec![0.0; n * la], vec![0.0; n * lb]);
        da.par_chunks_mut(la)
            .zip(db.par_chunks_mut(lb))
            .zip(dy.par_chunks(la + lb))
            .for_each(|((d1, d2), d)| {
                d1.copy_from_slice(&d[..la]);
                d2.copy_from_slice(&d[la..]);
            });
        add_grad(grads, &a_ghost, &da)?;
        add_grad(grads, &b_ghost, &db)?;
        put_grad(grads, &y_ghost, dy)
    });
    y.put_tape(tape)
}

/// Nearest-neighbour 2× upsampling, `[B, C, H, W]` → `[B, C, 2H, 2W]`; dx sums each 2×2 block.
pub fn upsample_cpu<T: Tape<f32, Cpu>>(x: Act<Cpu, T>) -> Act<Cpu, T> {
    let (b, c, h, w) = *x.shape();
    let (x, mut tape) = x.split_tape();
    let xv = values(&x);
    let mut y = vec![0.0; b * c * 4 * h * w];
    y.par_chunks_mut(4 * h * w)
        .zip(xv.par_chunks(h * w))
        .for_each(|(o, xs)| {
            for (i, row) in xs.chunks(w).enumerate() {
                let (top, bottom) = o[4 * i * w..4 * (i + 1) * w].split_at_mut(2 * w);
                for (j, &v) in row.iter().enumerate() {
                    top[2 * j] = v;
                    top[2 * j + 1] = v;
                }
                bottom.copy_from_slice(top);
            }
        });
    let y = x.device().tensor_from_vec(y, (b, c, 2 * h, 2 * w));
    let (x_ghost, y_ghost) = (x.clone(), y.clone());
    tape.add_backward_op(move |grads| {
        let dy = take_grad(grads, &y_ghost)?;
        let mut dx = vec![0.0; b * c * h * w];
        dx.par_chunks_mut(h * w)
            .zip(dy.par_chunks(4 * h * w))
            .for_each(|(o, d)| {
                for (i, row) in o.chunks_mut(w).enumerate() {
                    let (top, bottom) = d[4 * i * w..4 * (i + 1) * w].split_at(2 * w);
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1];
                    }
                }
            });
        add_grad(grads, &x_ghost, &dx)?;
        put_grad(grads, &y_ghost, dy)
    });
    y.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Traced = OwnedTape<f32, Cpu>;

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (p, q)) in a.iter().zip(b).enumerate() {
            assert!(
                (p - q).abs() < 1e-5 * (1.0 + q.abs()),
                "{what}[{i}]: {p} vs {q}"
            );
        }
    }

    /// A two-input op's output and the gradients of both inputs of Σ r·op(a, b): weighting by
    /// a random r means a gradient routed to the wrong place cannot pass.
    fn run<S: Shape>(
        op: impl Fn(Act<Cpu, Traced>, Tensor<S, f32, Cpu, Traced>) -> Act<Cpu, Traced>,
        a: &Act<Cpu, NoneTape>,
        b: &Tensor<S, f32, Cpu>,
        r: &Act<Cpu, NoneTape>,
    ) -> [Vec<f32>; 3] {
        let y = op(a.leaky_trace(), b.retaped::<Traced>());
        let values = y.as_vec();
        let g = (y * r.clone()).sum().backward();
        [values, g.get(a).as_vec(), g.get(b).as_vec()]
    }

    fn same(fast: [Vec<f32>; 3], slow: [Vec<f32>; 3], what: &str) {
        for (k, part) in ["value", "grad a", "grad b"].iter().enumerate() {
            close(&fast[k], &slow[k], &format!("{what} {part}"));
        }
    }

    /// Each kernel against dfdx's composition, in value and in the gradient of every input, on
    /// odd sizes (3 images, 5 and 3 channels, 3×5 pixels).
    #[test]
    fn the_kernels_match_dfdx_in_values_and_gradients() {
        let dev: Cpu = Cpu::seed_from_u64(23);
        let a: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 5, 3, 5));
        let b: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 5, 3, 5));
        let s: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 3, 3, 5));
        let e: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(3, 5));
        let r: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 5, 3, 5));
        let r_cat: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 8, 3, 5));
        let r_up: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 5, 6, 10));

        same(
            run(add_cpu, &a, &b, &r),
            run(|x, y| x + y, &a, &b, &r),
            "add",
        );
        same(
            run(add_per_channel_cpu, &a, &e, &r),
            run(
                |x, y| x + y.broadcast_like::<_, Axes2<2, 3>>(&(3, 5, 3, 5)),
                &a,
                &e,
                &r,
            ),
            "add per channel",
        );
        same(
            run(concat_channels_cpu, &a, &s, &r_cat),
            run(|x, y| (x, y).concat_along(Axis::<1>), &a, &s, &r_cat),
            "concat",
        );
        let up = |f: fn(Act<Cpu, Traced>) -> Act<Cpu, Traced>| {
            let y = f(a.leaky_trace());
            let values = y.as_vec();
            let g = (y * r_up.clone()).sum().backward();
            [values, g.get(&a).as_vec()]
        };
        let (fast, slow) = (up(upsample_cpu), up(crate::unet::upsample));
        close(&fast[0], &slow[0], "upsample value");
        close(&fast[1], &slow[1], "upsample grad");
    }
}
