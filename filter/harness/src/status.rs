//! proxy-wasm ABI 0.2.1 result codes (`WasmResult` in cpp-host).

/// A hostcall result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// No such key, property or buffer here.
    NotFound = 1,
    /// Not allowed now or malformed arguments.
    BadArgument = 2,
    /// A value could not be serialized.
    SerializationFailure = 3,
    /// Guest pointers out of bounds.
    InvalidMemoryAccess = 6,
    /// Nothing to dequeue.
    Empty = 7,
    /// Shared-data compare-and-swap failed.
    CasMismatch = 8,
    /// The host failed.
    InternalFailure = 10,
}

impl Status {
    /// The ABI value.
    pub fn code(self) -> i32 {
        self as i32
    }
}
