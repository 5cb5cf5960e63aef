//! Chapter 7's figure: the UNet's architecture, drawn from the model itself — every box's
//! channel counts come from the type, every parameter count from the built module.

use std::path::Path;

use ddpm_plot::{thousands, Arrow, Diagram, Figure, FigureError, Label, Node, Png, Reproducible};
use dfdx::prelude::*;
use plotters::style::RGBColor;

use crate::blocks::Attend;
use crate::unet::{DeviceUNet, MnistUNet};

/// The chapter's figures, written to `book/src/figures/ch07/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[Figure {
    file: "unet.png",
    render: |root| Ok(architecture(root)?.0),
    reproducible: Reproducible::Exactly,
}];

const RES: RGBColor = RGBColor(204, 229, 255);
const CONV: RGBColor = RGBColor(230, 230, 230);
const ATTN: RGBColor = RGBColor(255, 221, 179);
const SAMPLE: RGBColor = RGBColor(204, 240, 214);
const IO: RGBColor = RGBColor(255, 250, 205);
const GREY: RGBColor = RGBColor(110, 110, 110);
const INK: RGBColor = RGBColor(0, 0, 0);

/// The architecture of [`MnistUNet`] as a diagram.
pub fn architecture(_root: &Path) -> Result<Png, FigureError> {
    let dev: Cpu = Default::default();
    let m = dev.build_module::<MnistUNet, f32>();
    Ok(diagram(&m).render()?)
}

/// Lays out any UNet of the course's type: the encoder down the left, the bottleneck along the
/// bottom, the decoder up the right, skips across; extra blocks per level, attention at 14×14
/// and scale-shift time are written into the boxes and labels they change.
#[allow(clippy::type_complexity)]
pub fn diagram<
    const C1: usize,
    const C2: usize,
    const C12: usize,
    const C22: usize,
    const TE: usize,
    const H: usize,
    const G: usize,
    const XB: usize,
    const T1: usize,
    const T2: usize,
    A7: Attend<Cpu> + TensorCollection<f32, Cpu>,
    A14: Attend<Cpu> + TensorCollection<f32, Cpu>,
>(
    m: &DeviceUNet<C1, C2, C12, C22, TE, H, G, f32, Cpu, XB, T1, T2, A7, A14>,
) -> Diagram {
    let p = |n: usize| format!("{} params", thousands(n));
    // A level's blocks: the first, its extra blocks and (at 14×14) the attention after them.
    let times = if XB > 0 {
        format!(" ×{}", 1 + XB)
    } else {
        String::new()
    };
    let attn14 = if A14::ATTENDS { " + attention" } else { "" };
    let level = |first: usize, more: usize, attn: usize| first + more + attn;
    let (w, h) = (250, 50);
    let (left, mid, right) = (40, 400, 760);
    let node = |x: i32, y: i32, fill, title: String, detail: String| Node {
        x,
        y,
        w,
        h,
        fill,
        lines: vec![title, detail],
    };
    let ys = [20, 95, 170, 255, 330, 415, 505];
    let nodes = vec![
        node(left, ys[0], IO, "x_t".into(), "1 × 28 × 28".into()),
        node(
            left,
            ys[1],
            CONV,
            format!("conv 3×3 → {C1}"),
            format!("28×28 · {}", p(m.conv_in.num_trainable_params())),
        ),
        node(
            left,
            ys[2],
            RES,
            format!("ResBlock {C1} → {C1}{times}"),
            format!(
                "28×28 · {}",
                p(level(
                    m.down1.num_trainable_params(),
                    m.down1_more.num_trainable_params(),
                    0
                ))
            ),
        ),
        node(
            left,
            ys[3],
            SAMPLE,
            "down: conv 3×3, stride 2".into(),
            format!("28 → 14 · {}", p(m.ds1.num_trainable_params())),
        ),
        node(
            left,
            ys[4],
            RES,
            format!("ResBlock {C1} → {C2}{times}{attn14}"),
            format!(
                "14×14 · {}",
                p(level(
                    m.down2.num_trainable_params(),
                    m.down2_more.num_trainable_params(),
                    m.attn14_down.num_trainable_params()
                ))
            ),
        ),
        node(
            left,
            ys[5],
            SAMPLE,
            "down: conv 3×3, stride 2".into(),
            format!("14 → 7 · {}", p(m.ds2.num_trainable_params())),
        ),
        node(
            left,
            ys[6],
            RES,
            format!("ResBlock {C2} → {C2}"),
            format!("7×7 · {}", p(m.mid1.num_trainable_params())),
        ),
        node(
            mid,
            ys[6],
            ATTN,
            if A7::ATTENDS {
                format!("self-attention, {H} heads")
            } else {
                "no attention".into()
            },
            format!("49 tokens · {}", p(m.attn.num_trainable_params())),
        ),
        node(
            right,
            ys[6],
            RES,
            format!("ResBlock {C2} → {C2}"),
            format!("7×7 · {}", p(m.mid2.num_trainable_params())),
        ),
        node(
            right,
            ys[5],
            SAMPLE,
            "up: nearest ×2, conv 3×3".into(),
            format!("7 → 14 · {}", p(m.us2.num_trainable_params())),
        ),
        node(
            right,
            ys[4],
            RES,
            format!("ResBlock {C22} → {C2}{times}{attn14}"),
            format!(
                "14×14 · {}",
                p(level(
                    m.up2.num_trainable_params(),
                    m.up2_more.num_trainable_params(),
                    m.attn14_up.num_trainable_params()
                ))
            ),
        ),
        node(
            right,
            ys[3],
            SAMPLE,
            "up: nearest ×2, conv 3×3".into(),
            format!("14 → 28 · {}", p(m.us1.num_trainable_params())),
        ),
        node(
            right,
            ys[2],
            RES,
            format!("ResBlock {C12} → {C1}{times}"),
            format!(
                "28×28 · {}",
                p(level(
                    m.up1.num_trainable_params(),
                    m.up1_more.num_trainable_params(),
                    0
                ))
            ),
        ),
        node(
            right,
            ys[1],
            CONV,
            "GroupNorm, SiLU, conv 3×3 → 1".into(),
            format!(
                "28×28 · {}",
                p(m.norm_out.num_trainable_params() + m.conv_out.num_trainable_params())
            ),
        ),
        node(
            right,
            ys[0],
            IO,
            "output ε_θ(x_t, t)".into(),
            "1 × 28 × 28".into(),
        ),
        node(
            mid,
            ys[0],
            IO,
            "t → sinusoidal embedding".into(),
            format!("{TE} numbers (chapter 6)"),
        ),
        node(
            mid,
            ys[1] + 10,
            CONV,
            "Linear, SiLU, Linear".into(),
            format!(
                "e: {TE} · {}",
                p(m.time1.num_trainable_params() + m.time2.num_trainable_params())
            ),
        ),
    ];
    let cx = |x: i32| x + w / 2;
    let solid = |points: Vec<(i32, i32)>| Arrow {
        points,
        color: INK,
        dashed: false,
    };
    let mut arrows = Vec::new();
    // Down the encoder and up the decoder.
    for k in 0..6 {
        arrows.push(solid(vec![(cx(left), ys[k] + h), (cx(left), ys[k + 1])]));
        arrows.push(solid(vec![(cx(right), ys[k + 1]), (cx(right), ys[k] + h)]));
    }
    // Along the bottleneck.
    arrows.push(solid(vec![(left + w, ys[6] + h / 2), (mid, ys[6] + h / 2)]));
    arrows.push(solid(vec![
        (mid + w, ys[6] + h / 2),
        (right, ys[6] + h / 2),
    ]));
    // Skips: each encoder ResBlock's output is concatenated to the decoder's input.
    for (from, to) in [(2, 2), (4, 4)] {
        arrows.push(Arrow {
            points: vec![(left + w, ys[from] + h / 2), (right, ys[to] + h / 2)],
            color: RGBColor(0, 114, 178),
            dashed: true,
        });
    }
    // The time embedding reaches every ResBlock.
    arrows.push(solid(vec![(cx(mid), ys[0] + h), (cx(mid), ys[1] + 10)]));
    for target in [(left + w, ys[2] + 12), (right, ys[2] + 12)] {
        arrows.push(Arrow {
            points: vec![(cx(mid), ys[1] + 10 + h), target],
            color: RGBColor(213, 94, 0),
            dashed: true,
        });
    }
    let label = |x, y, text: String, color| Label {
        x,
        y,
        text,
        size: 13.0,
        color,
    };
    let labels = vec![
        label(
            mid - 10,
            ys[2] + h / 2 + 16,
            format!("skip: concatenate {C1} channels"),
            RGBColor(0, 114, 178),
        ),
        label(
            mid - 10,
            ys[4] + h / 2 + 16,
            format!("skip: concatenate {C2} channels"),
            RGBColor(0, 114, 178),
        ),
        label(
            mid - 10,
            ys[3] + 12,
            "e reaches every ResBlock".into(),
            RGBColor(213, 94, 0),
        ),
        label(
            mid - 10,
            ys[3] + 30,
            if T1 == C1 {
                "as Linear(SiLU(e)), one number per channel".into()
            } else {
                "as Linear(SiLU(e)): a scale and a shift per channel".into()
            },
            RGBColor(213, 94, 0),
        ),
        label(
            mid - 10,
            ys[5] + 25,
            format!("{} parameters in all", thousands(m.num_trainable_params())),
            GREY,
        ),
        label(mid - 10, ys[5] + 45, format!("GroupNorm: {G} groups"), GREY),
    ];
    Diagram {
        width: 1050,
        height: 575,
        nodes,
        arrows,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::Attention;
    use crate::unet::UNet;

    fn lines(d: &Diagram) -> Vec<String> {
        d.nodes
            .iter()
            .flat_map(|n| n.lines.clone())
            .chain(d.labels.iter().map(|l| l.text.clone()))
            .collect()
    }

    /// The diagram follows the type: extra blocks, attention at 14×14 and scale-shift time show
    /// in its boxes, and the boxes' parameter counts still add up to the model's.
    #[test]
    fn the_diagram_follows_the_config() {
        let dev: Cpu = Default::default();
        let plain = lines(&diagram(&dev.build_module::<MnistUNet, f32>()));
        assert!(plain.iter().any(|l| l == "ResBlock 32 → 32"));
        type Deep =
            UNet<8, 16, 24, 32, 16, 2, 4, 2, 16, 32, Attention<16, 2, 4>, Attention<16, 2, 4>>;
        let m = dev.build_module::<Deep, f32>();
        // The PyTorch twin of the same config, bench/unet.py's UNet(c1=8, c2=16, te=16, heads=2,
        // groups=4, extra_blocks=2, scale_shift=True, attn14=True), has 65,657 parameters too.
        assert_eq!(m.num_trainable_params(), 65_657);
        let deep = lines(&diagram(&m));
        assert!(
            deep.iter().any(|l| l == "ResBlock 8 → 16 ×3 + attention"),
            "{deep:?}"
        );
        assert!(deep.iter().any(|l| l.contains("a scale and a shift")));
        let total: usize = deep
            .iter()
            .filter_map(|l| l.split(" · ").nth(1))
            .filter_map(|p| p.strip_suffix(" params"))
            .map(|n| n.replace(',', "").parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, m.num_trainable_params());
    }
}
