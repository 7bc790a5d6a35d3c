//! A bounds-checked reader over a byte slice, shared by every binary parser in this crate.
//!
//! Every read either returns the bytes asked for or `None`, so a parser built on it cannot
//! index past the end of its input: there is no `buf[i]` whose safety depends on a length
//! check somewhere else (the rustls `codec::Reader` discipline). `None` means "the input
//! ended here"; each parser maps that to its own error, usually an `Incomplete` variant.

/// A forward-only reader over a borrowed byte slice.
///
/// Reads hand out sub-slices of the original buffer (zero-copy) and advance the cursor.
/// A failed read leaves the cursor where it was.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    len: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            len: buf.len(),
        }
    }

    /// The next `n` bytes, or `None` (cursor unchanged) if fewer remain.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n)?;
        self.buf = tail;
        Some(head)
    }

    /// The next `N` bytes as a fixed-size array reference, or `None` if fewer remain.
    pub fn take_array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, tail) = self.buf.split_first_chunk::<N>()?;
        self.buf = tail;
        Some(head)
    }

    /// A cursor over the next `len` bytes, which this cursor skips; `None` if fewer remain.
    ///
    /// Used for length-prefixed blocks: whatever the sub-cursor does, it cannot read past
    /// the block's declared end.
    pub fn sub(&mut self, len: usize) -> Option<Cursor<'a>> {
        self.take(len).map(Cursor::new)
    }

    /// Every remaining byte; the cursor is empty afterwards.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// The remaining bytes without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf
    }

    /// The next byte, or `None` at the end.
    pub fn u8(&mut self) -> Option<u8> {
        let (&first, tail) = self.buf.split_first()?;
        self.buf = tail;
        Some(first)
    }

    /// The next two bytes as a big-endian (network order) `u16`.
    pub fn u16_be(&mut self) -> Option<u16> {
        self.take_array::<2>().map(|b| u16::from_be_bytes(*b))
    }

    /// The next four bytes as a big-endian (network order) `u32`.
    pub fn u32_be(&mut self) -> Option<u32> {
        self.take_array::<4>().map(|b| u32::from_be_bytes(*b))
    }

    /// The next eight bytes as a big-endian (network order) `u64`.
    pub fn u64_be(&mut self) -> Option<u64> {
        self.take_array::<8>().map(|b| u64::from_be_bytes(*b))
    }

    /// How many bytes remain.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// How many bytes have been read since the cursor was created.
    pub fn position(&self) -> usize {
        self.len.saturating_sub(self.buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn reads_advance_and_failed_reads_do_not() {
        let mut c = Cursor::new(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(c.u8(), Some(1));
        assert_eq!(c.u16_be(), Some(0x0203));
        assert_eq!(c.position(), 3);
        assert_eq!(c.take(5), None);
        assert_eq!(c.u32_be(), Some(0x0405_0607));
        assert_eq!(c.u8(), None);
        assert!(c.is_empty());
        assert_eq!(c.position(), 7);
    }

    #[test]
    fn sub_cursor_is_confined_to_its_block() {
        let mut c = Cursor::new(b"abcdef");
        let mut block = c.sub(2).expect("two bytes available");
        assert_eq!(block.take_array::<2>(), Some(b"ab"));
        assert_eq!(block.u8(), None);
        assert_eq!(c.rest(), b"cdef");
        assert_eq!(c.rest(), b"");
        assert!(c.sub(1).is_none());
    }

    #[test]
    fn zero_length_reads_succeed_at_the_end() {
        let mut c = Cursor::new(&[]);
        assert_eq!(c.take(0), Some(&[][..]));
        assert_eq!(c.take_array::<0>(), Some(&[]));
        assert_eq!(c.u64_be(), None);
        assert_eq!(c.remaining(), 0);
    }
}
