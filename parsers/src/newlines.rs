//! Line ends of a text event log, found 64 bytes at a time.
//!
//! Events are a few short lines each (about 50 bytes a line in real logs). A `memchr` call
//! per line spends more on getting started than on searching; this compares a 64-byte block
//! at once into a bit mask and hands out its newlines one by one.

/// Positions of `\n` in `data`, in order.
pub struct Newlines<'a> {
    data: &'a [u8],
    /// Start of the block `mask` describes.
    block: usize,
    /// Newlines of the block not yet handed out, bit `k` for `block + k`.
    mask: u64,
}

impl<'a> Newlines<'a> {
    pub fn new(data: &'a [u8]) -> Newlines<'a> {
        Newlines {
            data,
            block: 0,
            mask: newline_mask(data),
        }
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
            self.mask = newline_mask(&self.data[self.block..]);
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Bit `k` set where `data[k]` is `\n`, for the first 64 bytes of `data`.
#[inline]
fn newline_mask(data: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 64 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; the four unaligned 16-byte loads read
        // `data[0..64]`, which exists.
        unsafe {
            let nl = _mm_set1_epi8(b'\n' as i8);
            let p = data.as_ptr().cast::<__m128i>();
            let part = |k: usize| -> u64 {
                let v = _mm_loadu_si128(p.add(k));
                u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) as u16)
            };
            return part(0) | part(1) << 16 | part(2) << 32 | part(3) << 48;
        }
    }
    data.iter()
        .take(64)
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .fold(0, |m, (k, _)| m | 1 << k)
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
}
