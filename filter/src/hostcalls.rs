//! The few proxy-wasm hostcalls the filter makes, declared here instead of going through the SDK's
//! `hostcalls` wrappers, which `panic!` on any status they do not expect (and a panic under
//! `panic = "abort"` traps the VM: with Istio's FAIL_CLOSE every later request gets a 503). Each
//! wrapper returns the host's status as a value; nothing here can panic.
//!
//! This is the crate's only `unsafe`: calls across the ABI and taking ownership of buffers the host
//! allocated with the SDK's `proxy_on_memory_allocate` (a `Box<[u8]>` of exactly the returned size).

// Raw imports are only linked in the wasm module; on the host (unit tests) nothing calls them.
#![allow(unsafe_code)]

use std::ptr::null_mut;

/// A proxy-wasm status other than `Ok`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status(pub(crate) u32);

impl Status {
    pub(crate) const NOT_FOUND: Status = Status(1);
}

/// proxy-wasm header map types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum MapType {
    RequestHeaders = 0,
    ResponseHeaders = 2,
}

/// proxy-wasm log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum LogLevel {
    Warn = 3,
    Error = 4,
}

const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const METRIC_COUNTER: u32 = 0;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
    fn proxy_get_buffer_bytes(
        kind: u32,
        start: usize,
        max: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    #[allow(clippy::too_many_arguments)] // the ABI's shape
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
}

fn check(status: u32) -> Result<(), Status> {
    match status {
        0 => Ok(()),
        s => Err(Status(s)),
    }
}

/// Takes ownership of a host-allocated buffer (null means empty).
fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        return Vec::new();
    }
    // SAFETY: the host allocated `size` bytes through `proxy_on_memory_allocate`, which hands out a
    // leaked `Box<[MaybeUninit<u8>]>` of exactly `size` bytes (align 1), and filled them; ownership
    // passes to us, as in the SDK's own getters.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

/// Logs a message.
pub(crate) fn log(level: LogLevel, message: &str) {
    // SAFETY: pointer and length of a live str.
    let _ = unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// The plugin configuration (only readable in `on_configure`).
pub(crate) fn plugin_configuration(size: usize) -> Result<Vec<u8>, Status> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    check(unsafe {
        proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, &mut data, &mut len)
    })?;
    Ok(owned(data, len))
}

/// All pairs of a header map, in the ABI's pair encoding (parse with [`crate::pairs::Pairs`]).
pub(crate) fn header_pairs(map: MapType) -> Result<Vec<u8>, Status> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    check(unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut len) })?;
    Ok(owned(data, len))
}

/// Replaces every line of `name` with one line.
pub(crate) fn replace_header(map: MapType, name: &[u8], value: &[u8]) -> Result<(), Status> {
    // SAFETY: live slices.
    check(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every line of `name`.
pub(crate) fn remove_header(map: MapType, name: &[u8]) -> Result<(), Status> {
    // SAFETY: live slice.
    check(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// A property by NUL-joined path; `Ok(None)` when NotFound.
pub(crate) fn property(path: &[u8]) -> Result<Option<Vec<u8>>, Status> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: live slice; out-pointers to locals.
    match check(unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut len) }) {
        Ok(()) => Ok(Some(owned(data, len))),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(s) => Err(s),
    }
}

/// Writes filter state `wasm.<name>`.
pub(crate) fn set_property(name: &[u8], value: &[u8]) -> Result<(), Status> {
    // SAFETY: live slices.
    check(unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
}

/// Asks Envoy to answer the stream locally when the current callback returns.
pub(crate) fn send_local_response(
    status: u32,
    details: &str,
    body: &[u8],
    headers: &[u8],
) -> Result<(), Status> {
    // SAFETY: live slices; -1 means "not gRPC".
    check(unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// Defines a counter.
pub(crate) fn define_counter(name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    // SAFETY: live slice; out-pointer to a local.
    check(unsafe { proxy_define_metric(METRIC_COUNTER, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds one to a counter.
pub(crate) fn increment(id: u32) -> Result<(), Status> {
    // SAFETY: plain values.
    check(unsafe { proxy_increment_metric(id, 1) })
}
