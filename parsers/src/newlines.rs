//! Line ends of a text event log, found 64 bytes at a time.
//!
//! Events are a few short lines each (about 50 bytes a line in real logs). A `memchr` call
//! per line spends more on getting started than on searching; this compares a 64-byte block
//! at once into a bit mask and hands out its newlines one by one. The same pass notes whether
//! any byte was outside ASCII, so that UTF-8 validation of an all-ASCII event can be skipped.

/// Positions of `\n` in `data`, in order.
pub struct Newlines<'a> {
    data: &'a [u8],
    /// Start of the block `mask` describes.
    block: usize,
    /// Newlines of the block not yet handed out, bit `k` for `block + k`.
    mask: u64,
    /// A byte of a block scanned so far was not ASCII.
    non_ascii: bool,
}

impl<'a> Newlines<'a> {
    pub fn new(data: &'a [u8]) -> Newlines<'a> {
        let (mask, non_ascii) = newline_mask(data);
        Newlines {
            data,
            block: 0,
            mask,
            non_ascii,
        }
    }

    /// Whether `data[..end]` is all ASCII (so valid UTF-8), known without looking again when
    /// the scan has passed `end`; `false` when not known.
    pub fn ascii_up_to(&self, end: usize) -> bool {
        !self.non_ascii && end <= (self.block + 64).min(self.data.len())
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += 64;
            if self.block >= self.data.len() {
                return None;
            }
            let (mask, non_ascii) = newline_mask(&self.data[self.block..]);
            self.mask = mask;
            self.non_ascii |= non_ascii;
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Bit `k` set where `data[k]` is `\n`, for the first 64 bytes of `data`; and whether any
/// of those bytes is not ASCII.
#[inline]
fn newline_mask(data: &[u8]) -> (u64, bool) {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 64 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; the four unaligned 16-byte loads read
        // `data[0..64]`, which exists.
        unsafe {
            let nl = _mm_set1_epi8(b'\n' as i8);
            let p = data.as_ptr().cast::<__m128i>();
            let v = [0, 1, 2, 3].map(|k| _mm_loadu_si128(p.add(k)));
            let part =
                |k: usize| -> u64 { u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v[k], nl)) as u16) };
            // The sign bit of every byte: set only outside ASCII.
            let high = _mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(v[0], v[1]),
                _mm_or_si128(v[2], v[3]),
            ));
            return (
                part(0) | part(1) << 16 | part(2) << 32 | part(3) << 48,
                high != 0,
            );
        }
    }
    let head = &data[..data.len().min(64)];
    let mask = head
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .fold(0, |m, (k, _)| m | 1 << k);
    (mask, !head.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_newline_as_memchr_does() {
        let mut text = Vec::new();
        for n in 0..300usize {
            text.extend(std::iter::repeat_n(b'x', n % 97));
            text.push(b'\n');
            if n % 7 == 0 {
                text.push(b'\n');
            }
        }
        text.extend(b"tail without newline");
        for start in [0, 1, 63, 64, 65, 500] {
            let data = &text[start..];
            let expected: Vec<usize> = memchr::memchr_iter(b'\n', data).collect();
            assert_eq!(
                Newlines::new(data).collect::<Vec<_>>(),
                expected,
                "from {start}"
            );
        }
        assert_eq!(Newlines::new(b"").next(), None);
        assert_eq!(Newlines::new(b"\n").collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn knows_an_ascii_prefix_only_once_it_was_scanned() {
        let mut text = vec![b'a'; 200];
        text[10] = b'\n';
        text[150] = 0xC3;
        text[151] = 0xA9;
        let mut lines = Newlines::new(&text);
        assert!(lines.ascii_up_to(64));
        assert!(!lines.ascii_up_to(65), "not scanned yet");
        assert_eq!(lines.next(), Some(10));
        // The rest has no newline: the scan reaches the end and sees the é.
        assert_eq!(lines.next(), None);
        assert!(!lines.ascii_up_to(64));
        let short = Newlines::new("é\n".as_bytes());
        assert!(!short.ascii_up_to(1));
        assert!(Newlines::new(b"ab\n").ascii_up_to(3));
    }
}
