//! Exit codes from BSD `sysexits.h`, which scripts and supervisors already understand.

/// Success.
pub(crate) const EX_OK: u8 = 0;
/// `explain`: the request would be rejected or denied (like `grep` finding nothing: not an error of the tool).
pub(crate) const EX_REFUSED: u8 = 1;
/// `check-config --strict`: the configuration is valid but has warnings.
pub(crate) const EX_WARNINGS: u8 = 2;
/// Bad command-line usage or an invalid configuration.
pub(crate) const EX_USAGE: u8 = 64;
/// Bad input data: a malformed PROXY header or batch line.
pub(crate) const EX_DATAERR: u8 = 65;
/// An input file does not exist or cannot be read.
pub(crate) const EX_NOINPUT: u8 = 66;
/// Missing permission or capability (e.g. CAP_NET_ADMIN for transparent sockets).
pub(crate) const EX_NOPERM: u8 = 77;
/// Output could not be written.
pub(crate) const EX_IOERR: u8 = 74;
