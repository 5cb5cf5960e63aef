//! Chapter 7's coding exercises. `cargo xtask exercises start 07` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch07/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

use ddpm_unet::blocks::{silu, Act, DeviceAttention, DeviceResBlock, Skip};
use ddpm_unet::dfdx::prelude::*;

/// Exercise 7.1: the attention block's forward pass, written out with matmuls: from x
/// `[B, C, H, W]`, normalise with the block's GroupNorm, take the h·w positions as tokens
/// `[B, h·w, C]`, project them with the block's `mha.w_q`, `w_k`, `w_v`, split each into `H`
/// heads of d = C/H channels, and in each head take softmax(QKᵀ/√d) over the keys times V; join
/// the heads, project with `mha.w_o`, put the tokens back as a `[B, C, H, W]` map and add x.
pub fn attention_block<const C: usize, const H: usize, const G: usize>(
    block: &DeviceAttention<C, H, G, f32, Cpu>,
    x: Act<Cpu, NoneTape>,
) -> Act<Cpu, NoneTape> {
    // SOLUTION START
    // WRONG (one head of all C channels, whatever H is): `let heads = H;` -> `let heads = 1;`
    // WRONG (no 1/√d scaling): ` * (1.0 / (d as f32).sqrt())` -> ``
    // WRONG (scaled by 1/√C, not 1/√d): `(d as f32).sqrt()` -> `(C as f32).sqrt()`
    // WRONG (softmax over the queries, not the keys): `softmax::<Axis<3>>()` -> `softmax::<Axis<2>>()`
    // WRONG (no residual): `out.reshape_like(&shape) + x` -> `out.reshape_like(&shape)`
    // WRONG (the GroupNorm skipped): `block.norm.forward(x.clone())` -> `x.clone()`
    let shape = *x.shape();
    let (b, c, h, w) = shape;
    let s = h * w;
    let heads = H;
    let d = C / heads;
    let normed = block.norm.forward(x.clone());
    let tokens: Tensor<(usize, usize, Const<C>), f32, Cpu> = normed
        .reshape_like(&(b, c, s))
        .permute::<_, Axes3<0, 2, 1>>()
        .realize();
    // [B, s, C] → [B, heads, s, d]
    let split = |t: Tensor<(usize, usize, Const<C>), f32, Cpu>| {
        t.reshape_like(&(b, s, heads, d))
            .permute::<_, Axes4<0, 2, 1, 3>>()
    };
    let q = split(block.mha.w_q.forward(tokens.clone()));
    let k = split(block.mha.w_k.forward(tokens.clone()));
    let v = split(block.mha.w_v.forward(tokens));
    let weights = q.matmul(k.permute::<_, Axes4<0, 1, 3, 2>>()) * (1.0 / (d as f32).sqrt());
    let attended = weights.softmax::<Axis<3>>().matmul(v);
    let joined: Tensor<(usize, usize, Const<C>), f32, Cpu> = attended
        .permute::<_, Axes4<0, 2, 1, 3>>()
        .reshape_like(&(b, s, c))
        .realize();
    let out = block
        .mha
        .w_o
        .forward(joined)
        .realize::<(usize, usize, usize)>()
        .permute::<_, Axes3<0, 2, 1>>();
    out.reshape_like(&shape) + x
    // SOLUTION END
}

/// Exercise 7.2: GroupNorm without its scale and shift, on activations `[B, C, H, W]` stored
/// row-major in `x`: the C channels of each image fall into `groups` groups of C/groups
/// consecutive channels; each group is normalised over its channels and pixels,
/// (x − mean)/√(var + 1e-5), with the biased variance (divide by the count).
pub fn group_norm_plain(x: &[f32], shape: [usize; 4], groups: usize) -> Vec<f32> {
    // SOLUTION START
    // WRONG (GroupNorm's ε dropped): `(var + 1e-5).sqrt()` -> `var.sqrt()`
    // WRONG (the unbiased variance (count − 1)): `.powi(2)).sum::<f64>() / size as f64` -> `.powi(2)).sum::<f64>() / (size - 1) as f64`
    // WRONG (divided by the variance, not its root): `(var + 1e-5).sqrt()` -> `(var + 1e-5)`
    // WRONG (the mean not subtracted): `(v as f64 - mean) * scale` -> `v as f64 * scale`
    let [b, c, h, w] = shape;
    let size = c / groups * h * w;
    let mut y = vec![0.0f32; x.len()];
    for g in 0..b * groups {
        let part = &x[g * size..(g + 1) * size];
        let mean = part.iter().map(|&v| v as f64).sum::<f64>() / size as f64;
        let var = part.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / size as f64;
        let scale = 1.0 / (var + 1e-5).sqrt();
        for (o, &v) in y[g * size..(g + 1) * size].iter_mut().zip(part) {
            *o = ((v as f64 - mean) * scale) as f32;
        }
    }
    y
    // SOLUTION END
}

/// Exercise 7.3: the residual block's forward pass from its parts, with the time embedding
/// added (CT = CO, Ho et al.): h = conv1(SiLU(GroupNorm1(x))); the embedding e `[B, TE]`
/// enters as h + time(SiLU(e)), one value per image and channel added at every pixel; then
/// conv2(SiLU(GroupNorm2(·))), plus the skip of x (`block.skip.skip(x)`: x itself, or a 1×1
/// convolution when the channel count changes).
pub fn res_block<
    const CI: usize,
    const CO: usize,
    const TE: usize,
    const G: usize,
    SK: Skip<Cpu>,
>(
    block: &DeviceResBlock<CI, CO, TE, G, SK, f32, Cpu>,
    x: Act<Cpu, NoneTape>,
    temb: &Tensor<(usize, Const<TE>), f32, Cpu>,
) -> Act<Cpu, NoneTape> {
    // SOLUTION START
    // WRONG (the time added after the second GroupNorm): `block.norm2.forward(h + time)` -> `block.norm2.forward(h) + time`
    // WRONG (the embedding's SiLU dropped): `block.time.forward(silu(temb.clone()))` -> `block.time.forward(temb.clone())`
    // WRONG (no skip): `out + block.skip.skip(x)` -> `out`
    // WRONG (the second SiLU dropped): `block.conv2.forward(silu(n))` -> `block.conv2.forward(n)`
    // WRONG (the time embedding ignored): `block.norm2.forward(h + time)` -> `block.norm2.forward(h)`
    let h = block.conv1.forward(silu(block.norm1.forward(x.clone())));
    let shape = *h.shape();
    let e: Tensor<(usize, usize), f32, Cpu> = block.time.forward(silu(temb.clone())).realize();
    let time = e.broadcast_like::<_, Axes2<2, 3>>(&shape);
    let n = block.norm2.forward(h + time);
    let out = block.conv2.forward(silu(n));
    out + block.skip.skip(x)
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_unet::blocks::{Attention, Conv, Identity, ResBlock};

    /// The largest difference between two tensors' values.
    fn worst<S: Shape>(a: &Tensor<S, f32, Cpu>, b: &Tensor<S, f32, Cpu>) -> f32 {
        a.as_vec()
            .iter()
            .zip(b.as_vec())
            .map(|(x, y)| (x - y).abs())
            .map(|d| if d.is_nan() { f32::INFINITY } else { d })
            .fold(0.0, f32::max)
    }

    /// Against the crate's attention block (dfdx's multi-head attention inside) with random
    /// weights, on two 3×5 maps of 8 channels: with one head and with two.
    #[test]
    fn exercise_7_1_attention_block() {
        let dev: Cpu = Cpu::seed_from_u64(71);
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 8, 3, 5));
        let one = dev.build_module::<Attention<8, 1, 2>, f32>();
        let d = worst(&attention_block(&one, x.clone()), &one.forward(x.clone()));
        assert!(d < 1e-4, "one head: largest difference {d}");
        let two = dev.build_module::<Attention<8, 2, 2>, f32>();
        let d = worst(&attention_block(&two, x.clone()), &two.forward(x));
        assert!(d < 1e-4, "two heads: largest difference {d}");
    }

    /// Against the crate's GroupNorm (γ = 1, β = 0) on random activations, 2 images of 4
    /// channels in 2 groups, and 1 group (LayerNorm over the image); and on activations a
    /// thousand times smaller, whose variance (about 10⁻⁵) is where GroupNorm's ε shows.
    #[test]
    fn exercise_7_2_group_norm_plain() {
        let dev: Cpu = Cpu::seed_from_u64(7);
        let shape = (2usize, 4usize, 3usize, 5usize);
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&shape);
        let (gamma, beta) = (dev.ones::<Rank1<4>>(), dev.zeros::<Rank1<4>>());
        for (groups, scale) in [(2, 1.0), (1, 1.0), (2, 1e-3)] {
            let x = (x.clone() * 3.0 + 1.5) * scale;
            let want =
                ddpm_unet::ops::group_norm_generic(x.clone(), &gamma, &beta, groups).as_vec();
            let got = group_norm_plain(&x.as_vec(), [2, 4, 3, 5], groups);
            assert_eq!(got.len(), want.len());
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .map(|d| if d.is_nan() { f32::INFINITY } else { d })
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-4,
                "{groups} groups, scale {scale}: largest difference {worst}"
            );
        }
    }

    /// Against the crate's ResBlock with random weights, at steps' embeddings drawn at random:
    /// 4 → 6 channels (a 1×1 convolution on the skip) and 4 → 4 (x itself).
    #[test]
    fn exercise_7_3_res_block() {
        let dev: Cpu = Cpu::seed_from_u64(73);
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 4, 5, 6));
        let temb: Tensor<(usize, Const<8>), f32, Cpu> = dev.sample_normal_like(&(2, Const));
        let wide = dev.build_module::<ResBlock<4, 6, 8, 2, Conv<4, 6, 1, 1, 0>>, f32>();
        let d = worst(
            &res_block(&wide, x.clone(), &temb),
            &wide.forward(x.clone(), &temb),
        );
        assert!(d < 1e-4, "4 → 6 channels: largest difference {d}");
        let same = dev.build_module::<ResBlock<4, 4, 8, 2, Identity>, f32>();
        let d = worst(&res_block(&same, x.clone(), &temb), &same.forward(x, &temb));
        assert!(d < 1e-4, "4 → 4 channels: largest difference {d}");
    }
}
