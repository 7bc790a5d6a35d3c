//! The module's heap: free lists of power-of-two size classes in front of the standard allocator.
//!
//! Every request allocates and frees about ten small blocks (the buffers the host hands over, the
//! header list, the filter-state line, the rewrite plan's strings). Through the standard allocator
//! (wasi-libc's dlmalloc behind three layers of wrappers) each pair cost about 500 machine
//! instructions under wasmtime, a fifth of the filter's own work per request (BENCHMARKS.md, "Wasm
//! filter"). Here a block of up to [`MAX_CLASS_SIZE`] bytes comes from the free list of its size class
//! (16, 32, ... bytes): popping or pushing one pointer. A class whose list is empty takes a new block
//! from the standard allocator; freed blocks stay on their list for the next request and are never
//! returned, so the heap grows only to the peak in use of each class and then stays flat (the soak
//! test checks this). Larger or over-aligned blocks go to the standard allocator directly.
//!
//! The price of never returning blocks is a bound, not a leak: the heap holds at most, for each of the
//! ten classes, the most blocks of that class ever live at once, each rounded up to its class size
//! (under twice the bytes asked for). In the worst case a burst fills one class, a later burst another,
//! and each keeps its peak, so the memory held is the sum of the classes' peaks rather than the peak of
//! their sum: at most ten times the largest set of class blocks ever live at once (which is itself under
//! twice the bytes asked for), and Envoy's own header limits (`max_request_headers_kb`, 60 KiB by
//! default) keep that set small per stream. `memory_levels_off_across_every_size_class` in
//! `tests/soak.rs` drives every class, in both orders, and checks the heap stays flat.
//!
//! `alloc` and `dealloc` are left to the inliner: out of line they cost about 900 instructions more per
//! request and save 4 KB of the module (measured in BENCHMARKS.md).
//!
//! Installed only in the Wasm module, where a VM runs on one thread. On the host (unit tests) the
//! type is exercised directly and the process keeps its own allocator.
//!
//! This is the crate's second and last `unsafe` module (the other is `hostcalls`): the allocator
//! interface is `unsafe` by definition. The invariants are written at each block.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::null_mut;

/// Number of size classes: 16 bytes to [`MAX_CLASS_SIZE`].
const CLASSES: usize = 10;
/// The smallest class: 16 bytes, which also holds the free list's link on any target.
const MIN_SHIFT: u32 = 4;
/// The largest class, 8 KiB: more than the header map of a common request.
pub(crate) const MAX_CLASS_SIZE: usize = 1 << (MIN_SHIFT as usize + CLASSES - 1);
/// Every class block is aligned to 16 bytes; layouts asking for more go to the standard allocator.
const CLASS_ALIGN: usize = 16;

/// Free lists of size-class blocks over [`System`].
pub(crate) struct SizeClasses {
    /// The head of each class's free list; a free block's first word holds the next one (null ends it).
    free: [Cell<*mut u8>; CLASSES],
}

// SAFETY: the allocator is only installed in the Wasm module (wasm32 without threads: proxy-wasm runs each
// VM on one thread), so its cells are never touched from two threads.
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for SizeClasses {}

// The `Sync` above holds only while a module has one thread: a build with shared memory (wasip1-threads)
// would race on the free lists.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!(
    "the size-class heap has unsynchronised free lists: build without the atomics feature"
);

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static HEAP: SizeClasses = SizeClasses::new();

impl SizeClasses {
    /// Empty free lists.
    pub(crate) const fn new() -> SizeClasses {
        SizeClasses {
            free: [const { Cell::new(null_mut()) }; CLASSES],
        }
    }

    /// The free list for `layout`, or `None` when the standard allocator serves it.
    fn list(&self, layout: Layout) -> Option<(&Cell<*mut u8>, Layout)> {
        if layout.size() > MAX_CLASS_SIZE || layout.align() > CLASS_ALIGN {
            return None;
        }
        // ceil(log2(size)) - MIN_SHIFT, with every size up to 16 in class 0.
        let size = layout.size().max(1 << MIN_SHIFT);
        let class = (usize::BITS - (size - 1).leading_zeros()).saturating_sub(MIN_SHIFT);
        let class = usize::try_from(class).ok()?;
        let block = Layout::from_size_align(1 << (MIN_SHIFT as usize + class), CLASS_ALIGN).ok()?;
        Some((self.free.get(class)?, block))
    }
}

// SAFETY (for the whole impl): class blocks are only ever obtained from `System` with the class's block
// layout (16-byte aligned, at least as large as any layout mapped to the class), and a block is on at most
// one free list, only while it is not allocated. `GlobalAlloc`'s callers pass back the layout a block was
// allocated (or last reallocated) with, so `list` maps it to the same class it came from.
unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((head, block_layout)) = self.list(layout) else {
            // SAFETY: forwarded with the caller's layout (non-zero size, the caller's guarantee).
            return unsafe { System.alloc(layout) };
        };
        let block = head.get();
        if block.is_null() {
            // SAFETY: the class layout has a non-zero size.
            return unsafe { System.alloc(block_layout) };
        }
        // SAFETY: `block` is a free block of this class (16-byte aligned, at least 16 bytes); `dealloc`
        // wrote the next free block into its first word.
        head.set(unsafe { block.cast::<*mut u8>().read() });
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((head, _)) = self.list(layout) else {
            // SAFETY: a block of this layout came from `System` with the same layout (see `alloc`).
            return unsafe { System.dealloc(ptr, layout) };
        };
        // SAFETY: `ptr` is a block of this class that the caller gives up: it is ours to hold the link,
        // aligned and large enough for a pointer.
        unsafe { ptr.cast::<*mut u8>().write(head.get()) };
        head.set(ptr);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return null_mut();
        };
        match (self.list(layout), self.list(new_layout)) {
            // The block already has room: a class block is as large as its class.
            (Some((old, _)), Some((new, _))) if std::ptr::eq(old, new) => ptr,
            // SAFETY: both layouts are served by `System`, and `ptr` came from it with `layout`.
            (None, None) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: `new_layout` is valid and non-zero (`new_size` is non-zero by the caller's
                // guarantee); on success both blocks are live and distinct, and the copy stays within the
                // smaller of the two sizes.
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    /// A live block: where, its layout, and the byte it was filled with.
    struct Live {
        ptr: *mut u8,
        layout: Layout,
        fill: u8,
    }

    fn check(block: &Live) {
        // SAFETY: the block is live with this layout and was filled with `fill` over its whole size.
        let bytes = unsafe { std::slice::from_raw_parts(block.ptr, block.layout.size()) };
        assert!(bytes.iter().all(|b| *b == block.fill), "block overwritten");
        assert_eq!(block.ptr as usize % block.layout.align(), 0, "misaligned");
    }

    fn fill(block: &Live) {
        // SAFETY: the block is live with this layout.
        unsafe { std::ptr::write_bytes(block.ptr, block.fill, block.layout.size()) };
    }

    #[test]
    fn blocks_keep_their_contents_alignment_and_are_reused() {
        let heap = SizeClasses::new();
        let mut live: Vec<Live> = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..20_000u32 {
            let r = next();
            match r % 4 {
                // Allocate: sizes across every class and past the largest, alignments up to 64.
                0 | 1 => {
                    let size = match (r >> 8) & 3 {
                        0 => 1 + (r >> 16) as usize % 64,
                        1 => 1 + (r >> 16) as usize % 1024,
                        2 => 1 + (r >> 16) as usize % MAX_CLASS_SIZE,
                        _ => 1 + (r >> 16) as usize % (4 * MAX_CLASS_SIZE),
                    };
                    let align = 1 << ((r >> 40) % 7);
                    let layout = Layout::from_size_align(size, align).unwrap();
                    // SAFETY: non-zero size.
                    let ptr = unsafe { heap.alloc(layout) };
                    assert!(!ptr.is_null());
                    let block = Live {
                        ptr,
                        layout,
                        fill: step as u8,
                    };
                    fill(&block);
                    live.push(block);
                }
                // Free one.
                2 if !live.is_empty() => {
                    let block = live.swap_remove((r >> 8) as usize % live.len());
                    check(&block);
                    // SAFETY: live, with the layout it was allocated with.
                    unsafe { heap.dealloc(block.ptr, block.layout) };
                }
                // Grow or shrink one.
                _ if !live.is_empty() => {
                    let i = (r >> 8) as usize % live.len();
                    let block = &mut live[i];
                    check(block);
                    let new_size = 1 + (r >> 20) as usize % (2 * MAX_CLASS_SIZE);
                    let old = block.layout.size();
                    // SAFETY: live, with its layout; non-zero new size.
                    let ptr = unsafe { heap.realloc(block.ptr, block.layout, new_size) };
                    assert!(!ptr.is_null());
                    block.ptr = ptr;
                    block.layout = Layout::from_size_align(new_size, block.layout.align()).unwrap();
                    // SAFETY: the first min(old, new) bytes were kept.
                    let kept = unsafe { std::slice::from_raw_parts(ptr, old.min(new_size)) };
                    assert!(kept.iter().all(|b| *b == block.fill), "realloc lost bytes");
                    fill(block);
                }
                _ => {}
            }
        }
        for block in live {
            check(&block);
            // SAFETY: live, with its layout.
            unsafe { heap.dealloc(block.ptr, block.layout) };
        }

        // A freed class block is the next one handed out for its class.
        let layout = Layout::from_size_align(40, 8).unwrap();
        // SAFETY: non-zero size; freed with the same layout.
        unsafe {
            let a = heap.alloc(layout);
            heap.dealloc(a, layout);
            assert_eq!(heap.alloc(Layout::from_size_align(33, 1).unwrap()), a);
        }
    }

    #[test]
    fn classes_cover_their_sizes() {
        let heap = SizeClasses::new();
        for size in 1..=MAX_CLASS_SIZE {
            let (_, block) = heap
                .list(Layout::from_size_align(size, 1).unwrap())
                .unwrap();
            assert!(
                block.size() >= size && block.size() < 2 * size.max(16),
                "{size}"
            );
        }
        assert!(
            heap.list(Layout::from_size_align(MAX_CLASS_SIZE + 1, 1).unwrap())
                .is_none()
        );
        assert!(heap.list(Layout::from_size_align(8, 32).unwrap()).is_none());
    }
}
