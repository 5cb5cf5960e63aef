//! Hostile bytes: the IDX reader, fed random and mutated files (raw and gzip), answers with an
//! array or an error — never a panic, an abort, or an allocation the file does not justify.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use ddpm_data::idx::{encode_idx, read_idx, IdxError, MAX_IDX_BYTES};
use proptest::prelude::*;

/// The system allocator, refusing (and recording) any single request above [`CAP`]: a reader
/// that trusted a lying header would ask for gigabytes here, and the test process would stop
/// with "memory allocation failed" instead of passing.
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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Reads `bytes` as an IDX file of `dims` dimensions; a successful read must be consistent.
fn read_bytes(bytes: &[u8], dims: usize) -> Result<(), IdxError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file-idx");
    std::fs::write(&path, bytes).unwrap();
    let array = read_idx(&path, dims)?;
    assert_eq!(array.dims.len(), dims);
    assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
    Ok(())
}

/// One edit of a file: overwrite a byte, cut the file, or insert bytes.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        any::<usize>().prop_map(Edit::Cut),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Set(i, v) if !bytes.is_empty() => bytes[i % n] = *v,
            Edit::Set(..) => {}
            Edit::Cut(i) => bytes.truncate(i % n),
            Edit::Insert(i, b) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..256),
                                        dims in 1usize..=3, compressed in any::<bool>()) {
        let bytes = if compressed { gzip(&bytes) } else { bytes };
        let _ = read_bytes(&bytes, dims);
    }

    /// A valid small file with a few random edits, raw or gzip-compressed (edits before or
    /// after compression).
    #[test]
    fn mutated_files_are_read_or_refused(
        (count, rows, cols) in (0usize..5, 1usize..6, 1usize..6),
        edits in prop::collection::vec(edit(), 1..4),
        mode in 0u8..3,
    ) {
        let data: Vec<u8> = (0..count * rows * cols).map(|i| i as u8).collect();
        let valid = encode_idx(&[count, rows, cols], &data);
        let bytes = match mode {
            0 => apply(valid, &edits),
            1 => gzip(&apply(valid, &edits)),
            _ => apply(gzip(&valid), &edits),
        };
        let _ = read_bytes(&bytes, 3);
    }

    /// Any header, with a little data after it: dimensions whose product overflows or passes
    /// the cap are refused by name, and a header that promises more data than the file holds
    /// is "truncated" — in both cases before a buffer of the promised size exists.
    #[test]
    fn lying_headers_allocate_nothing_large(d in prop::array::uniform3(any::<u32>()),
                                            tail in 0usize..64, compressed in any::<bool>()) {
        let mut bytes = 0x0803u32.to_be_bytes().to_vec();
        for x in d {
            bytes.extend_from_slice(&x.to_be_bytes());
        }
        bytes.extend(std::iter::repeat_n(7u8, tail));
        let bytes = if compressed { gzip(&bytes) } else { bytes };
        let claimed = d.iter().try_fold(1usize, |a, &x| a.checked_mul(x as usize));
        match read_bytes(&bytes, 3) {
            Err(IdxError::TooLarge { .. }) => {
                prop_assert!(claimed.is_none_or(|n| n > MAX_IDX_BYTES))
            }
            Err(IdxError::Truncated { .. }) => prop_assert!(claimed.is_some_and(|n| n > tail)),
            Err(IdxError::TrailingBytes { .. }) => prop_assert!(claimed.is_some_and(|n| n < tail)),
            Ok(()) => prop_assert_eq!(claimed, Some(tail)),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        prop_assert!(LARGEST.load(Ordering::Relaxed) <= CAP);
    }
}

/// A gzip "bomb": a small file whose header claims the largest size the reader accepts and
/// whose data is a long run of zeros. The reader decompresses as a stream and stops at the
/// claimed size plus a bounded look for trailing bytes; memory follows the data, not the claim.
#[test]
fn a_short_gzip_with_a_huge_claim_is_truncated() {
    let side = 1 << 15; // 32768 × 32768 × 1 = 1 GiB claimed
    let mut raw = 0x0803u32.to_be_bytes().to_vec();
    for d in [side, side, 1u32] {
        raw.extend_from_slice(&d.to_be_bytes());
    }
    raw.extend(std::iter::repeat_n(0u8, 4 << 20));
    let err = read_bytes(&gzip(&raw), 3).unwrap_err();
    assert!(
        matches!(err, IdxError::Truncated { available, .. } if available == raw.len()),
        "{err}"
    );
    assert!(LARGEST.load(Ordering::Relaxed) <= CAP);
}
