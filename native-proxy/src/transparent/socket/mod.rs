//! Transparent sockets: `IP_TRANSPARENT` listeners, the original destination, and upstream
//! connects that leave from the client's own address.
//!
//! Everything goes through `socket2` (it has `IP_TRANSPARENT`, `IPV6_TRANSPARENT` and `SO_MARK`
//! since 0.6), so the crate keeps `#![forbid(unsafe_code)]`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

pub use trueip::OrigDstAddr;

/// The destination the client originally dialled, read from a connection accepted on a
/// transparent listener.
///
/// Under TPROXY the kernel hands the connection to our listener without rewriting it, so the
/// accepted socket's local address *is* the original destination (no `SO_ORIGINAL_DST`, no
/// conntrack lookup).
pub fn orig_dst(stream: &TcpStream) -> io::Result<OrigDstAddr> {
    stream.local_addr().map(OrigDstAddr)
}

/// A firewall mark (`SO_MARK`) put on every packet of a socket.
///
/// The proxy marks the connections it originates so the interception rules skip them; without
/// that, a transparent connect to an intercepted destination would be diverted back to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark(pub u32);

/// Where an upstream connection leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamSource {
    /// The proxy's own address, chosen by the kernel (plain forwarding: the upstream sees the proxy).
    Proxy,
    /// The client's address, bound with `IP_TRANSPARENT` (the upstream sees the client).
    Client(IpAddr),
}

/// How upstream connections are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Mark for every upstream packet, so interception rules can skip proxy-originated traffic.
    pub mark: Option<Mark>,
    /// How long to wait for the upstream to answer the SYN.
    pub timeout: Duration,
}

/// A socket option or bind that the kernel refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// The kernel refused the option for lack of privilege.
    #[error(
        "setting {option} on a socket for {addr} was refused: the process needs {capability} \
         (run as root or grant the capability)"
    )]
    PermissionDenied {
        /// The socket option, e.g. `IP_TRANSPARENT`.
        option: &'static str,
        /// The address the socket was for.
        addr: SocketAddr,
        /// The capability that grants it.
        capability: &'static str,
    },
    /// Any other failure while setting an option.
    #[error("setting {option} on a socket for {addr} failed: {source}")]
    Option {
        /// The socket option.
        option: &'static str,
        /// The address the socket was for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Creating, binding or listening failed.
    #[error("{step} {addr} failed: {source}")]
    Io {
        /// What we were doing: "binding", "listening on", "creating a socket for".
        step: &'static str,
        /// The address involved.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// An upstream connection that could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Preparing the socket failed (capability, bind).
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The client and the upstream are of different address families.
    #[error("cannot connect from {from} to {dest}: address families differ")]
    FamilyMismatch {
        /// The client address we were asked to leave from.
        from: IpAddr,
        /// The upstream.
        dest: SocketAddr,
    },
    /// No answer from a transparent connect: the reply went somewhere else.
    #[error(
        "transparent connect from {from} to {dest} got no answer within {after:?}: replies to \
         {from} do not come back to this host; check return routing (`trueip net check`) and that \
         the upstream routes {from} through this proxy"
    )]
    NoReturnPath {
        /// The client address the connection left from.
        from: IpAddr,
        /// The upstream.
        dest: SocketAddr,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// No answer from a plain connect.
    #[error("connect to {dest} timed out after {after:?}")]
    TimedOut {
        /// The upstream.
        dest: SocketAddr,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connect failed with an OS error (refused, unreachable, ...).
    #[error("connect to {dest} failed: {source}")]
    Io {
        /// The upstream.
        dest: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

impl ConnectError {
    /// A stable snake_case label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Socket(SocketError::PermissionDenied { .. }) => "permission_denied",
            ConnectError::Socket(_) => "socket",
            ConnectError::FamilyMismatch { .. } => "family_mismatch",
            ConnectError::NoReturnPath { .. } => "no_return_path",
            ConnectError::TimedOut { .. } => "timeout",
            ConnectError::Io { source, .. }
                if source.kind() == io::ErrorKind::ConnectionRefused =>
            {
                "refused"
            }
            ConnectError::Io { .. } => "io",
        }
    }
}

/// Binds a TCP listener with `IP_TRANSPARENT` (or `IPV6_TRANSPARENT`) set, so TPROXY rules
/// can hand it connections addressed to any destination.
///
/// `SO_REUSEADDR` is set so a restart does not wait out `TIME_WAIT`. An IPv6 listener is
/// v6-only: IPv4 interception needs its own IPv4 listener, which keeps the original
/// destinations of the two families from being confused as v4-mapped addresses.
pub fn transparent_listener(addr: SocketAddr, backlog: i32) -> Result<TcpListener, SocketError> {
    let socket = new_socket(addr)?;
    set_transparent(&socket, addr)?;
    socket
        .set_reuse_address(true)
        .map_err(|source| option_error("SO_REUSEADDR", addr, source))?;
    if addr.is_ipv6() {
        socket
            .set_only_v6(true)
            .map_err(|source| option_error("IPV6_V6ONLY", addr, source))?;
    }
    socket
        .bind(&addr.into())
        .map_err(|source| SocketError::Io {
            step: "binding",
            addr,
            source,
        })?;
    socket.listen(backlog).map_err(|source| SocketError::Io {
        step: "listening on",
        addr,
        source,
    })?;
    socket
        .set_nonblocking(true)
        .map_err(|source| option_error("O_NONBLOCK", addr, source))?;
    TcpListener::from_std(socket.into()).map_err(|source| SocketError::Io {
        step: "registering",
        addr,
        source,
    })
}

/// Sets `IP_TRANSPARENT` for IPv4 addresses or `IPV6_TRANSPARENT` for IPv6 ones.
///
/// The kernel allows it with `CAP_NET_ADMIN` or `CAP_NET_RAW`; `EPERM` becomes
/// [`SocketError::PermissionDenied`] naming them, rather than a bare "operation not permitted".
pub fn set_transparent(socket: &Socket, addr: SocketAddr) -> Result<(), SocketError> {
    let (option, result) = match addr {
        SocketAddr::V4(_) => ("IP_TRANSPARENT", socket.set_ip_transparent_v4(true)),
        SocketAddr::V6(_) => ("IPV6_TRANSPARENT", socket.set_ip_transparent_v6(true)),
    };
    result.map_err(|source| {
        privileged_option_error(option, addr, "CAP_NET_ADMIN or CAP_NET_RAW", source)
    })
}

/// Reads back `IP_TRANSPARENT`/`IPV6_TRANSPARENT` for the socket's family.
pub fn is_transparent(socket: &Socket, addr: SocketAddr) -> io::Result<bool> {
    match addr {
        SocketAddr::V4(_) => socket.ip_transparent_v4(),
        SocketAddr::V6(_) => socket.ip_transparent_v6(),
    }
}

/// Sets `SO_MARK`, which needs `CAP_NET_ADMIN`.
pub fn set_mark(socket: &Socket, addr: SocketAddr, mark: Mark) -> Result<(), SocketError> {
    socket
        .set_mark(mark.0)
        .map_err(|source| privileged_option_error("SO_MARK", addr, "CAP_NET_ADMIN", source))
}

/// Connects to `dest`, leaving from the proxy or (transparently) from the client's address.
///
/// A transparent connect binds the client's IP with port 0, so the kernel picks a free source
/// port; two connections from the same client can then coexist. Whether the reply finds its way
/// back depends on routing outside this process, so a silent timeout is reported as
/// [`ConnectError::NoReturnPath`] with a pointer to `trueip net check`.
pub async fn connect(
    source: UpstreamSource,
    dest: SocketAddr,
    options: ConnectOptions,
) -> Result<TcpStream, ConnectError> {
    let socket = new_socket(dest)?;
    if let UpstreamSource::Client(ip) = source {
        if ip.is_ipv4() != dest.is_ipv4() {
            return Err(ConnectError::FamilyMismatch { from: ip, dest });
        }
        set_transparent(&socket, dest)?;
        let bind = SocketAddr::new(ip, 0);
        socket
            .bind(&bind.into())
            .map_err(|source| SocketError::Io {
                step: "binding",
                addr: bind,
                source,
            })?;
    }
    if let Some(mark) = options.mark {
        set_mark(&socket, dest, mark)?;
    }
    socket
        .set_nonblocking(true)
        .map_err(|source| option_error("O_NONBLOCK", dest, source))?;
    let socket = TcpSocket::from_std_stream(socket.into());
    match tokio::time::timeout(options.timeout, socket.connect(dest)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(ConnectError::Io { dest, source }),
        Err(_elapsed) => Err(match source {
            UpstreamSource::Client(ip) => ConnectError::NoReturnPath {
                from: ip,
                dest,
                after: options.timeout,
            },
            UpstreamSource::Proxy => ConnectError::TimedOut {
                dest,
                after: options.timeout,
            },
        }),
    }
}

fn new_socket(addr: SocketAddr) -> Result<Socket, SocketError> {
    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(|source| {
        SocketError::Io {
            step: "creating a socket for",
            addr,
            source,
        }
    })
}

fn option_error(option: &'static str, addr: SocketAddr, source: io::Error) -> SocketError {
    SocketError::Option {
        option,
        addr,
        source,
    }
}

fn privileged_option_error(
    option: &'static str,
    addr: SocketAddr,
    capability: &'static str,
    source: io::Error,
) -> SocketError {
    if source.kind() == io::ErrorKind::PermissionDenied {
        SocketError::PermissionDenied {
            option,
            addr,
            capability,
        }
    } else {
        SocketError::Option {
            option,
            addr,
            source,
        }
    }
}

#[cfg(test)]
mod tests;
