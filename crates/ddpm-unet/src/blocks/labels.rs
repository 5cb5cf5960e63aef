//! How a class label enters the UNet (classifier-free guidance, Ho & Salimans 2022): not at all
//! ([`Identity`]), or as a learned vector per class added to the time embedding — dfdx's
//! `Embedding<ROWS, TE>`, whose last row is the "no label" token the network also learns (the
//! label is dropped to it in a tenth of the training images).

use dfdx::nn::modules;
use dfdx::prelude::*;

use super::Identity;

/// Adds the labels' embedding to the time embedding `temb` `[B, TE]`. `None` means "no label"
/// for every image.
pub trait Labels<const TE: usize, D: Device<f32>> {
    /// The classes it knows (0: an unconditional UNet, which ignores labels).
    const CLASSES: usize;
    fn add_to<T: Tape<f32, D>>(
        &self,
        temb: Tensor<(usize, Const<TE>), f32, D, T>,
        labels: Option<&[usize]>,
    ) -> Tensor<(usize, Const<TE>), f32, D, T>;
}

impl<const TE: usize, D: Device<f32>> Labels<TE, D> for Identity {
    const CLASSES: usize = 0;
    fn add_to<T: Tape<f32, D>>(
        &self,
        temb: Tensor<(usize, Const<TE>), f32, D, T>,
        _: Option<&[usize]>,
    ) -> Tensor<(usize, Const<TE>), f32, D, T> {
        temb
    }
}

// ANCHOR: labels
impl<const ROWS: usize, const TE: usize, D: Device<f32>> Labels<TE, D>
    for modules::Embedding<ROWS, TE, f32, D>
{
    /// Rows 0..ROWS−1 are the classes, the last row is "no label".
    const CLASSES: usize = ROWS - 1;
    fn add_to<T: Tape<f32, D>>(
        &self,
        temb: Tensor<(usize, Const<TE>), f32, D, T>,
        labels: Option<&[usize]>,
    ) -> Tensor<(usize, Const<TE>), f32, D, T> {
        let n = temb.shape().0;
        let rows = match labels {
            Some(l) => {
                assert_eq!(l.len(), n, "one label per image");
                assert!(l.iter().all(|&c| c < ROWS), "labels are 0..={}", ROWS - 1);
                l.to_vec()
            }
            None => vec![ROWS - 1; n],
        };
        // The tape goes through the gather and the sum, so both embeddings learn.
        let (temb, tape) = temb.split_tape();
        let rows = temb.device().tensor_from_vec(rows, (n,));
        self.forward(rows.put_tape(tape)) + temb
    }
}
// ANCHOR_END: labels
