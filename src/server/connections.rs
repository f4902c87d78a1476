//! Our own accept loop: hyper's HTTP/1 connections with every timer a hostile client needs.
//!
//! `axum::serve` runs hyper without timers, so a client that sends half a header keeps its
//! connection (and the process, at shutdown) forever. Here each connection has an idle
//! (keep-alive) timeout, a header timeout and a write timeout ([`TimedIo`]); the body timeout
//! is applied where the body is read (`body.rs`). The number of connections is bounded: at
//! the limit we stop accepting and new connections wait in the kernel's listen backlog.
//! Shutdown: stop accepting, let hyper finish each connection gracefully, and at the force
//! deadline close whatever is still open.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Sleep;
use tower::ServiceExt;

use crate::supervisor::balance::{Board, DEFER_STEP, MAX_DEFERRAL, Place};

/// How long an idle keep-alive connection stays open once the server drains (milliseconds; 0 =
/// close at once). A supervised worker that drains while a newer one serves keeps them briefly
/// and answers their next request with `Connection: close`: a client that reuses a connection
/// gets its answer and then connects again (to the new worker), instead of racing a close.
static DRAIN_LINGER_MS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn set_drain_linger(linger: Duration) {
    DRAIN_LINGER_MS.store(u64::try_from(linger.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Connection limits from `server.*` in dspy.config.yaml.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_header_bytes: usize,
    /// From the first byte of a request to the end of its headers.
    pub(crate) header_read_timeout: Duration,
    /// How long a connection may sit idle between requests (and before the first).
    pub(crate) keep_alive_timeout: Duration,
    /// How long a response write may make no progress (a client that does not read).
    pub(crate) write_timeout: Duration,
}

/// Counters shown on `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ConnectionStats {
    pub(crate) open: AtomicU64,
    /// Connections closed by a header, keep-alive or write timeout.
    pub(crate) timed_out: AtomicU64,
    /// accept() failures for lack of file descriptors (the connection waits in the backlog).
    pub(crate) fd_exhausted: AtomicU64,
    last_fd_warning: std::sync::Mutex<Option<Instant>>,
}

/// Time the 503s answered at the shutdown deadline get to reach their clients. Short: they
/// are small writes to the socket buffer (measured: sent within 5 ms of the deadline), and the
/// whole exit must fit in deadline + 2 s (engine stop 0.5 s, Python finalization ~0.3 s).
const DEADLINE_GRACE: Duration = Duration::from_millis(250);
/// Pause after an accept() error that would repeat at once (no descriptors left).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serve `app` on `listener` until `stop` turns true; connections still open once `expired`
/// turns true (plus a short grace for the answers being written) are closed. With a `board`
/// (supervised workers sharing the socket) this worker leaves new connections to less loaded
/// workers while it holds more than its share (supervisor/balance.rs).
pub(crate) async fn serve(
    (listener, board): (TcpListener, Option<Arc<Board>>),
    app: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    mut stop: watch::Receiver<bool>,
    expired: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (force_tx, force) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // Our TimedIo applies the header timeout from a request's first byte, not hyper's
        // (which would also count the idle time before it).
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(64 * 1024))
        .keep_alive(true);
    let http = Arc::new(http);
    let place = board.and_then(|board| {
        let place = board.join().map(Arc::new);
        if place.is_none() {
            tracing::warn!("no free seat on the connection balance board: this worker's connections are not balanced");
        }
        place
    });
    // When this worker started leaving connections to the others (None: it is not deferring).
    let mut deferring_since: Option<Instant> = None;
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        if let Some(place) = &place {
            if place.should_defer() {
                let since = *deferring_since.get_or_insert_with(Instant::now);
                if since.elapsed() < MAX_DEFERRAL {
                    tokio::select! {
                        () = tokio::time::sleep(DEFER_STEP) => continue,
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                // Deferred long enough (the others are not taking them): accept until even.
            } else {
                deferring_since = None;
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((stream, client)) => {
                stream.set_nodelay(true).ok();
                let connection = Connection {
                    http: http.clone(),
                    app: app.clone(),
                    limits,
                    stats: stats.clone(),
                    stop: stop.clone(),
                    force: force.clone(),
                    _slot: permit,
                    _open: OpenConnection::count(stats.clone(), place.clone()),
                };
                tokio::spawn(connection.run(stream, client));
            }
            Err(err) => accept_failed(&stats, &err).await,
        }
    }
    if let Some(place) = &place {
        place.leave(); // draining: no other worker should wait for this one
    }
    drop(listener); // the port closes: new clients are refused instead of queueing
    let every_slot = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let all_closed = slots.acquire_many(every_slot);
    let deadline = async {
        let mut expired = expired;
        if expired.wait_for(|e| *e).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(DEADLINE_GRACE).await;
    };
    tokio::select! {
        _ = all_closed => return Ok(()),
        () = deadline => {}
    }
    let open = stats.open.load(Ordering::Relaxed);
    force_tx.send(true).ok();
    // Closing is a drop on each connection's task: a moment is plenty.
    tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(every_slot))
        .await
        .ok();
    if open > 0 {
        tracing::warn!(
            "Shutdown deadline: closed {open} connection(s) still open (slow clients or requests cut off; see the 503s above)"
        );
    }
    Ok(())
}

async fn accept_failed(stats: &ConnectionStats, err: &io::Error) {
    if out_of_descriptors(err) {
        stats.fd_exhausted.fetch_add(1, Ordering::Relaxed);
        let mut last = stats.last_fd_warning.lock().expect("warning lock");
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(
                "Out of file descriptors ({err}): new connections wait until some close. Raise the open-file limit (ulimit -n) or lower server.max_connections. Counted in /metrics (dspy_accept_fd_exhausted); reported at most once a minute."
            );
        }
    } else {
        // Errors of one connection that died in the backlog (ECONNABORTED and the like).
        tracing::debug!("accept failed: {err}");
    }
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// EMFILE/ENFILE: the process or the system has no file descriptor left.
pub(crate) fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(err),
        Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
    )
}

/// One accepted connection and what it needs to run.
struct Connection {
    http: Arc<hyper::server::conn::http1::Builder>,
    app: Router,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    stop: watch::Receiver<bool>,
    force: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
    _open: OpenConnection,
}

/// One open connection, counted in the stats and on the balance board (when there is one)
/// from the accept until the connection (or its task, if never run) is dropped.
struct OpenConnection {
    stats: Arc<ConnectionStats>,
    place: Option<Arc<Place>>,
}

impl OpenConnection {
    fn count(stats: Arc<ConnectionStats>, place: Option<Arc<Place>>) -> Self {
        let open = stats.open.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(place) = &place {
            place.publish(open);
        }
        Self { stats, place }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let open = self.stats.open.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        if let Some(place) = &self.place {
            place.publish(open);
        }
    }
}

impl Connection {
    async fn run(mut self, stream: TcpStream, client: SocketAddr) {
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(TimedIo::new(stream, activity.clone(), &self.limits, self.stats.clone()));
        let app = self.app.clone();
        let stop = self.stop.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let app = app.clone();
            let activity = activity.clone();
            let stop = stop.clone();
            async move {
                let _busy = activity.begin_request();
                request.extensions_mut().insert(ConnectInfo(client));
                let mut response = app.oneshot(request).await.unwrap_or_else(|never| match never {});
                if *stop.borrow() {
                    // Draining: hyper closes the connection after this response.
                    response.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self.http.serve_connection(io, service);
        tokio::pin!(connection);
        let mut stopping = false;
        let linger = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(linger);
        let mut lingering = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!("connection from {client} ended: {err}");
                    }
                    break;
                }
                _ = self.stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    let wait = Duration::from_millis(DRAIN_LINGER_MS.load(Ordering::Relaxed));
                    if wait.is_zero() {
                        // Idle connections close now, busy ones after their response.
                        connection.as_mut().graceful_shutdown();
                    } else {
                        linger.as_mut().reset(tokio::time::Instant::now() + wait);
                        lingering = true;
                    }
                }
                () = linger.as_mut(), if lingering => {
                    lingering = false;
                    connection.as_mut().graceful_shutdown();
                }
                _ = self.force.wait_for(|f| *f) => break, // dropping the connection closes the socket
            }
        }
    }
}

/// What the HTTP layer tells the socket wrapper: is a request being handled, and how many have
/// ended (each end starts a new idle period).
#[derive(Debug, Default)]
struct Activity {
    in_request: AtomicBool,
    requests_ended: AtomicU64,
}

impl Activity {
    fn begin_request(self: &Arc<Self>) -> RequestScope {
        self.in_request.store(true, Ordering::SeqCst);
        RequestScope(self.clone())
    }
}

/// Marks the connection busy while a handler runs (dropped with the response or the handler).
struct RequestScope(Arc<Activity>);

impl Drop for RequestScope {
    fn drop(&mut self) {
        // Count the end before clearing the flag: the reader must never see "idle" with the old
        // request's header start.
        self.0.requests_ended.fetch_add(1, Ordering::SeqCst);
        self.0.in_request.store(false, Ordering::SeqCst);
    }
}

/// A TCP stream whose reads and writes fail with `TimedOut` when the client stalls:
/// idle between requests longer than the keep-alive timeout, headers slower than the header
/// timeout, or a response write making no progress for the write timeout. No read deadline
/// applies while a handler runs (the body timeout is the handler's business).
struct TimedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    stats: Arc<ConnectionStats>,
    header_timeout: Duration,
    keep_alive_timeout: Duration,
    write_timeout: Duration,
    seen_ends: u64,
    idle_since: Instant,
    head_started: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    write_stalled_since: Option<Instant>,
    /// Last write progress: a response still being written keeps the connection from idling.
    last_write: Instant,
    write_timer: Pin<Box<Sleep>>,
}

impl TimedIo {
    fn new(stream: TcpStream, activity: Arc<Activity>, limits: &ConnectionLimits, stats: Arc<ConnectionStats>) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            stream,
            activity,
            stats,
            header_timeout: limits.header_read_timeout,
            keep_alive_timeout: limits.keep_alive_timeout,
            write_timeout: limits.write_timeout,
            seen_ends: 0,
            idle_since: Instant::now(),
            head_started: None,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_stalled_since: None,
            last_write: Instant::now(),
            write_timer: Box::pin(tokio::time::sleep_until(now)),
        }
    }

    /// Forget the previous request's timings once the HTTP layer finished it.
    fn sync_with_requests(&mut self) {
        let ends = self.activity.requests_ended.load(Ordering::SeqCst);
        if ends != self.seen_ends {
            self.seen_ends = ends;
            self.idle_since = Instant::now();
            self.head_started = None;
        }
    }

    /// When the pending read must give up, if at all.
    fn read_deadline(&mut self) -> Option<Instant> {
        if self.activity.in_request.load(Ordering::SeqCst) || self.write_stalled_since.is_some() {
            return None;
        }
        self.sync_with_requests();
        Some(match self.head_started {
            None => self.idle_since.max(self.last_write) + self.keep_alive_timeout,
            Some(started) => started + self.header_timeout,
        })
    }

    fn timed_out(&self, what: &str) -> io::Error {
        self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
    }

    /// Apply the write timeout to a write-side poll.
    fn guard_write<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_stalled_since = None;
            self.last_write = Instant::now();
            return poll;
        }
        let since = *self.write_stalled_since.get_or_insert_with(Instant::now);
        self.write_timer
            .as_mut()
            .reset(tokio::time::Instant::from_std(since + self.write_timeout));
        if self.write_timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(self.timed_out("response write")));
        }
        Poll::Pending
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && !this.activity.in_request.load(Ordering::SeqCst) {
                    this.sync_with_requests();
                    this.head_started.get_or_insert_with(Instant::now);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                let Some(deadline) = this.read_deadline() else {
                    return Poll::Pending;
                };
                this.read_timer.as_mut().reset(tokio::time::Instant::from_std(deadline));
                ready!(this.read_timer.as_mut().poll(cx));
                let what = if this.head_started.is_some() {
                    "reading the request headers"
                } else {
                    "idle keep-alive connection"
                };
                Poll::Ready(Err(this.timed_out(what)))
            }
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, data);
        self.guard_write(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, data);
        self.guard_write(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.guard_write(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.guard_write(cx, poll)
    }
}
