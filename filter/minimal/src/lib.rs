//! Benchmark baseline: the smallest useful proxy-wasm filter. It reads one request header and sets
//! another, through the same SDK, so the difference to trueip is the cost of deciding the client IP.
#![deny(unsafe_code)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

struct Root;
impl Context for Root {}
impl RootContext for Root {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Copy))
    }
}

/// Copies X-Forwarded-For into X-Real-IP.
struct Copy;
impl Context for Copy {}
impl HttpContext for Copy {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(v) = self.get_http_request_header_bytes("x-forwarded-for") {
            self.set_http_request_header_bytes("x-real-ip", Some(&v));
        }
        Action::Continue
    }
}

/// The module's `_initialize`.
// The macro's exported function has no doc comment of its own.
#[allow(missing_docs, unreachable_pub, unsafe_code)]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(super::Root) });
    }}
}
