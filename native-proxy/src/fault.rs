//! Test-only fault injection (cargo feature `fault-injection`, enabled only for this crate's
//! tests): a request carrying [`PANIC_HEADER`] makes its handler panic, so a test can prove the
//! panic stays inside that connection's task while the process and other clients carry on.

use http::HeaderMap;

/// The request header that triggers the panic.
pub const PANIC_HEADER: &str = "x-trueip-test-panic";

/// Panics when `headers` carry [`PANIC_HEADER`].
#[allow(clippy::panic)] // Panicking is this hook's whole purpose.
pub fn panic_if_asked(headers: &HeaderMap) {
    if headers.contains_key(PANIC_HEADER) {
        panic!("fault injection: the request carried {PANIC_HEADER}");
    }
}
