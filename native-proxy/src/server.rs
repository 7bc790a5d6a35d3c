//! The server: binds every listener and the admin endpoint, serves until shutdown, applies reloads.
//!
//! `Server::bind` binds everything before serving anything, so a bad address fails the start
//! instead of leaving a half-running proxy. `Server::run(shutdown, grace)` is the mini-redis
//! `run(listener, shutdown)` shape: it returns once every connection has drained or the grace
//! period has passed.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use trueip::Config;

use crate::admin;
use crate::listener::{self, ListenerState};
use crate::metrics::{KindLabels, Telemetry};

/// Why the server could not start or a reload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listening socket could not be bound.
    #[error("listener {name:?}: cannot bind {address}: {source}")]
    Bind {
        /// The listener's name (`admin` for the admin endpoint).
        name: String,
        /// The configured address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Two listeners share a name, so metrics and reloads could not tell them apart.
    #[error("listeners[{index}]: duplicate listener name {name:?}")]
    DuplicateName {
        /// Index of the second listener.
        index: usize,
        /// The name.
        name: String,
    },
    /// The server has stopped and takes no more reloads.
    #[error("the server is shutting down")]
    Stopped,
}

/// State shared by every listener, the admin endpoint and the supervisor.
#[derive(Debug)]
pub struct Shared {
    /// Metrics registry and handles.
    pub telemetry: Telemetry,
    /// The configuration being served (swapped on reload), for `/config`.
    pub config: std::sync::RwLock<Arc<Config>>,
    /// False until serving starts and again once shutdown begins, for `/ready`.
    pub ready: AtomicBool,
    /// Where the admin endpoint listens now (a reload may move it).
    admin_addr: std::sync::RwLock<Option<SocketAddr>>,
}

impl Shared {
    /// The configuration being served.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The bound address of the admin endpoint, if one is serving.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        match self.admin_addr.read() {
            Ok(a) => *a,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn set_admin_addr(&self, addr: Option<SocketAddr>) {
        match self.admin_addr.write() {
            Ok(mut a) => *a = addr,
            Err(poisoned) => *poisoned.into_inner() = addr,
        }
    }

    fn set_config(&self, config: Arc<Config>) {
        match self.config.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }
}

/// A bound, not yet serving, trueip server.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    pending: Vec<Pending>,
    admin: Option<(TcpListener, SocketAddr)>,
    reload_tx: mpsc::Sender<ReloadRequest>,
    reload_rx: mpsc::Receiver<ReloadRequest>,
}

#[derive(Debug)]
struct Pending {
    name: String,
    configured: SocketAddr,
    bound: SocketAddr,
    socket: TcpListener,
    state: Arc<ListenerState>,
}

type ReloadRequest = (Config, oneshot::Sender<Result<(), ServeError>>);

/// Sends reloads to a running server.
#[derive(Clone, Debug)]
pub struct ReloadHandle {
    tx: mpsc::Sender<ReloadRequest>,
    shared: Arc<Shared>,
}

impl ReloadHandle {
    /// Applies `config` to the running server; on error the old configuration keeps serving.
    ///
    /// # Errors
    /// A new listener or the moved admin endpoint could not be bound, or names collide.
    pub async fn reload(&self, config: Config) -> Result<(), ServeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((config, reply))
            .await
            .map_err(|_| ServeError::Stopped)?;
        rx.await.map_err(|_| ServeError::Stopped)?
    }

    /// Records a reload refused before it reached the server (e.g. the file did not parse).
    pub fn refuse(&self, reason: &str) {
        count_reload(&self.shared, "refused");
        tracing::error!(error = %reason, "configuration reload refused; the old configuration keeps serving");
    }
}

impl Server {
    /// Binds every listener and the admin endpoint of `config`.
    ///
    /// # Errors
    /// [`ServeError::Bind`] for the first address that cannot be bound.
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        let config = Arc::new(config);
        let shared = Arc::new(Shared {
            telemetry: Telemetry::new(),
            config: std::sync::RwLock::new(config.clone()),
            ready: AtomicBool::new(false),
            admin_addr: std::sync::RwLock::new(None),
        });
        check_names(&config)?;
        let mut pending = Vec::new();
        for l in &config.listeners {
            let socket = listener::bind(l).await?;
            let bound = socket
                .local_addr()
                .map_err(|source| bind_error(&l.name, l.address, source))?;
            let state = Arc::new(ListenerState::new(
                l.clone(),
                &config,
                &shared.telemetry.metrics,
            ));
            pending.push(Pending {
                name: l.name.clone(),
                configured: l.address,
                bound,
                socket,
                state,
            });
        }
        let admin = match &config.admin {
            Some(a) => Some(bind_admin(a.address).await?),
            None => None,
        };
        shared.set_admin_addr(admin.as_ref().map(|(_, bound)| *bound));
        let (reload_tx, reload_rx) = mpsc::channel(4);
        Ok(Server {
            shared,
            pending,
            admin,
            reload_tx,
            reload_rx,
        })
    }

    /// The bound address of the listener called `name` (useful with port 0).
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.pending
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.bound)
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, a)| *a)
    }

    /// Every listener's name and bound address, in configuration order.
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        self.pending
            .iter()
            .map(|p| (p.name.clone(), p.bound))
            .collect()
    }

    /// A handle for reloading the configuration while [`Server::run`] is serving.
    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle {
            tx: self.reload_tx.clone(),
            shared: self.shared.clone(),
        }
    }

    /// The shared state (metrics, effective config), e.g. to read metrics in tests.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets connections finish for at
    /// most `grace`, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>, grace: Duration) {
        let Server {
            shared,
            pending,
            admin,
            reload_tx,
            mut reload_rx,
        } = self;
        drop(reload_tx);
        let mut running: HashMap<String, Running> = HashMap::new();
        for p in pending {
            running.insert(p.name.clone(), Running::start(p));
        }
        let mut admin = admin.map(|(socket, _)| AdminTask::start(socket, &shared));
        shared.ready.store(true, Ordering::SeqCst);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some((config, reply)) = reload_rx.recv() => {
                    let result = apply(&shared, &mut running, &mut admin, config).await;
                    let outcome = if result.is_ok() { "applied" } else { "refused" };
                    count_reload(&shared, outcome);
                    match &result {
                        Ok(()) => tracing::info!("configuration reloaded"),
                        Err(e) => tracing::error!(error = %e, "configuration reload refused; the old configuration keeps serving"),
                    }
                    // The requester may have given up waiting; the result is logged either way.
                    let _ = reply.send(result);
                }
            }
        }
        shared.ready.store(false, Ordering::SeqCst);
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: draining connections"
        );
        let mut tasks: Vec<JoinHandle<()>> = running.into_values().map(Running::stop).collect();
        let drained = tokio::time::timeout(grace, async {
            for t in tasks.iter_mut() {
                // A listener task that panicked has already lost its connections; keep draining the rest.
                let _ = t.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("drain deadline passed; closing the remaining connections");
            for t in &tasks {
                t.abort();
            }
        }
        if let Some(a) = admin {
            let _ = a.stop().await;
        }
        tracing::info!("shutdown complete");
    }
}

/// The serving admin endpoint.
#[derive(Debug)]
struct AdminTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AdminTask {
    fn start(socket: TcpListener, shared: &Arc<Shared>) -> AdminTask {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(admin::serve(socket, shared.clone(), stopped));
        AdminTask { stop, task }
    }

    /// Stops accepting and closes its connections; the returned handle ends when it has.
    fn stop(self) -> JoinHandle<()> {
        let _ = self.stop.send(true);
        self.task
    }
}

async fn bind_admin(address: SocketAddr) -> Result<(TcpListener, SocketAddr), ServeError> {
    let socket = TcpListener::bind(address)
        .await
        .map_err(|source| bind_error("admin", address, source))?;
    let bound = socket
        .local_addr()
        .map_err(|source| bind_error("admin", address, source))?;
    Ok((socket, bound))
}

/// A serving listener: its accept task, the switch that stops it and the channel for new settings.
#[derive(Debug)]
struct Running {
    configured: SocketAddr,
    stop: watch::Sender<bool>,
    settings: watch::Sender<Arc<ListenerState>>,
    task: JoinHandle<()>,
}

impl Running {
    fn start(p: Pending) -> Running {
        let (stop, stop_rx) = watch::channel(false);
        let (settings, settings_rx) = watch::channel(p.state);
        let task = tokio::spawn(listener::accept_loop(p.socket, settings_rx, stop_rx));
        Running {
            configured: p.configured,
            stop,
            settings,
            task,
        }
    }

    fn stop(self) -> JoinHandle<()> {
        // The accept task may already be gone (it only ends on stop); nothing to signal then.
        let _ = self.stop.send(true);
        self.task
    }
}

/// Applies a new configuration: same-named listeners on the same address get the new settings
/// in place (new connections use them, open ones finish on the old), new listeners are bound,
/// removed ones stop accepting and drain; a changed `max_connections` resizes the running
/// listener's limit; a moved admin endpoint is rebound. Everything that can fail happens before
/// any change.
async fn apply(
    shared: &Arc<Shared>,
    running: &mut HashMap<String, Running>,
    admin: &mut Option<AdminTask>,
    config: Config,
) -> Result<(), ServeError> {
    check_names(&config)?;
    // A moved (or added) admin endpoint is bound first, like new listeners: if the address is
    // taken the reload is refused and the old endpoint keeps serving. Moving it to an address
    // that overlaps the old one (same port, wildcard) fails that way too; that takes a restart.
    let old_admin = shared.config().admin.as_ref().map(|a| a.address);
    let new_admin = config.admin.as_ref().map(|a| a.address);
    let moved_admin = old_admin != new_admin;
    let new_admin_socket = match new_admin.filter(|_| moved_admin) {
        Some(address) => Some(bind_admin(address).await?),
        None => None,
    };
    let config = Arc::new(config);
    let metrics = &shared.telemetry.metrics;
    let mut fresh = Vec::new();
    for l in &config.listeners {
        let reuse = running
            .get(&l.name)
            .is_some_and(|r| r.configured == l.address);
        if !reuse {
            let socket = listener::bind(l).await?;
            let bound = socket
                .local_addr()
                .map_err(|source| bind_error(&l.name, l.address, source))?;
            let state = Arc::new(ListenerState::new(l.clone(), &config, metrics));
            fresh.push(Pending {
                name: l.name.clone(),
                configured: l.address,
                bound,
                socket,
                state,
            });
        }
    }
    // Nothing can fail from here on.
    let keep: Vec<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
    let gone: Vec<String> = running
        .keys()
        .filter(|n| !keep.contains(&n.as_str()))
        .cloned()
        .collect();
    for name in gone {
        if let Some(r) = running.remove(&name) {
            tracing::info!(listener = %name, "listener removed by reload; draining its connections");
            drop(r.stop());
        }
    }
    for l in &config.listeners {
        if let Some(r) = running.get(&l.name).filter(|r| r.configured == l.address) {
            let _ = r
                .settings
                .send(Arc::new(ListenerState::new(l.clone(), &config, metrics)));
        }
    }
    for p in fresh {
        if let Some(old) = running.remove(&p.name) {
            drop(old.stop());
        }
        tracing::info!(listener = %p.name, address = %p.bound, "listener started by reload");
        running.insert(p.name.clone(), Running::start(p));
    }
    if moved_admin {
        if let Some(old) = admin.take() {
            // Its open connections close; scrapers reconnect to the new address.
            drop(old.stop());
        }
        let bound = new_admin_socket.as_ref().map(|(_, b)| *b);
        *admin = new_admin_socket.map(|(socket, _)| AdminTask::start(socket, shared));
        shared.set_admin_addr(bound);
        match bound {
            Some(address) => tracing::info!(%address, "admin endpoint moved by reload"),
            None => tracing::info!("admin endpoint removed by reload"),
        }
    }
    shared.set_config(config);
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone, which also means stop).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow guard `wait_for` returns must not live across later awaits, hence this wrapper.
    let _ = stop.wait_for(|s| *s).await;
}

fn count_reload(shared: &Shared, outcome: &'static str) {
    shared
        .telemetry
        .metrics
        .reloads
        .get_or_create(&KindLabels {
            listener: "-".into(),
            kind: outcome,
        })
        .inc();
}

fn check_names(config: &Config) -> Result<(), ServeError> {
    for (index, l) in config.listeners.iter().enumerate() {
        if config
            .listeners
            .iter()
            .take(index)
            .any(|o| o.name == l.name)
        {
            return Err(ServeError::DuplicateName {
                index,
                name: l.name.clone(),
            });
        }
    }
    Ok(())
}

pub(crate) fn bind_error(name: &str, address: SocketAddr, source: std::io::Error) -> ServeError {
    ServeError::Bind {
        name: name.to_string(),
        address,
        source,
    }
}
