//! Hostile bytes: the checkpoint loader, fed random bytes and mutated checkpoints, answers with
//! a checkpoint or an error — never a panic, an abort, or an allocation the file does not
//! justify. And so does the reader of sample files (`.npz`, IDX, PNG folders) `ddpm eval` takes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use ddpm_data::formats::{read_images, Format, SampleWriter};
use ddpm_data::Images;
use ddpm_train::net::TinyNet;
use ddpm_train::{fresh, Checkpoint, Preset, TrainConfig};
use dfdx::prelude::*;
use proptest::prelude::*;

/// The system allocator, refusing (and recording) any single request above [`CAP`]: a loader
/// that trusted a lying header would ask for gigabytes, and the test process would stop with
/// "memory allocation failed" instead of passing.
struct Capped;

const CAP: usize = 64 << 20;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > CAP {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        if new_size > CAP {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

type Tiny = <TinyNet as BuildOnDevice<Cpu, f32>>::Built;

/// A valid tiny checkpoint's bytes, the length of its JSON header, and a template to load into.
fn valid() -> &'static (Vec<u8>, usize, Tiny) {
    static V: OnceLock<(Vec<u8>, usize, Tiny)> = OnceLock::new();
    V.get_or_init(|| {
        let dev = Cpu::seed_from_u64(0);
        let cfg = TrainConfig {
            preset: Preset::Tiny,
            t_max: 50,
            ..Default::default()
        };
        let run = fresh::<Cpu, Tiny>(&dev, cfg);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        run.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (bytes, header, run.model)
    })
}

fn load(bytes: &[u8]) -> Result<Checkpoint<Tiny>, ddpm_train::CheckpointError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    std::fs::write(&path, bytes).unwrap();
    Checkpoint::load(&path, &valid().2)
}

/// One edit: overwrite a byte (mostly in the header, where the structure is), cut, or insert.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        1 => any::<usize>().prop_map(Edit::Cut),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, header: usize, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        // Nine edits in ten land in the length prefix and the JSON header.
        let span = |i: usize, len: usize| {
            if !i.is_multiple_of(10) {
                i % (8 + header).min(len).max(1)
            } else {
                i % len.max(1)
            }
        };
        match e {
            Edit::Set(i, v) if !bytes.is_empty() => {
                let at = span(*i, bytes.len());
                bytes[at] = *v;
            }
            Edit::Set(..) => {}
            Edit::Cut(i) => {
                let at = span(*i, bytes.len());
                bytes.truncate(at);
            }
            Edit::Insert(i, b) => {
                let at = span(*i, bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(load(&bytes).is_err());
    }

    #[test]
    fn mutated_checkpoints_load_or_are_refused(edits in prop::collection::vec(edit(), 1..4)) {
        let (bytes, header, _) = valid();
        let _ = load(&apply(bytes.clone(), *header, &edits));
        prop_assert!(LARGEST.load(Ordering::Relaxed) <= CAP);
    }

    /// A length prefix of any size, in front of a real header: refused or read, never trusted.
    #[test]
    fn any_header_length_is_checked(n in any::<u64>()) {
        let (bytes, _, _) = valid();
        let mut b = bytes.clone();
        b[..8].copy_from_slice(&n.to_le_bytes());
        let _ = load(&b);
    }

    /// The readers `ddpm eval --samples-from` uses, on mutated `.npz` files.
    #[test]
    fn mutated_sample_files_are_read_or_refused(edits in prop::collection::vec(edit(), 1..4)) {
        let (npz, _) = sample_npz();
        let bytes = apply(npz.clone(), 128, &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npz");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok((images, labels)) = read_images(&path) {
            prop_assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
            prop_assert!(labels.is_none_or(|l| l.len() == images.count));
        }
        prop_assert!(LARGEST.load(Ordering::Relaxed) <= CAP);
    }
}

/// A small labelled `.npz` written by the course (its bytes, and its images).
fn sample_npz() -> &'static (Vec<u8>, Images) {
    static V: OnceLock<(Vec<u8>, Images)> = OnceLock::new();
    V.get_or_init(|| {
        let images = Images {
            count: 3,
            rows: 28,
            cols: 28,
            pixels: (0..3 * 784).map(|i| (i % 253) as u8).collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let mut w = SampleWriter::create(dir.path(), Format::Npz, 3, 28, 28, true).unwrap();
        w.write(&images, Some(&[1, 2, 3])).unwrap();
        let path = w.finish().unwrap();
        (std::fs::read(path).unwrap(), images)
    })
}

/// A checkpoint whose config claims an absurd T or batch is refused by name, before anything
/// is sized from it.
#[test]
fn absurd_configs_in_a_checkpoint_are_refused() {
    let (bytes, header, _) = valid();
    let json = std::str::from_utf8(&bytes[8..8 + header]).unwrap();
    for (from, to) in [
        (r#"\"t_max\":50"#, r#"\"t_max\":9999999999"#),
        (r#"\"batch\":64"#, r#"\"batch\":99999999999"#),
    ] {
        assert!(json.contains(from), "{from} not in the header");
        let edited = json.replace(from, to);
        let mut b = (edited.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(edited.as_bytes());
        b.extend_from_slice(&bytes[8 + header..]);
        let e = load(&b).expect_err("refused");
        assert!(e.to_string().contains("not a valid run"), "{e}");
    }
    assert!(LARGEST.load(Ordering::Relaxed) <= CAP);
}
