//! The HTTP/2 server under the services: the accept loop, one hyper connection per client, the
//! edge layer and the key check in front of the routes, and a graceful shutdown that stops accepting and lets
//! every connection finish what it has in flight.
//!
//! tonic's own server would do this too, but it wraps every service in a deadline timer of its
//! own that answers `CANCELLED` ("Timeout expired") and runs outside any layer we can add; two
//! timers racing for the same deadline gave a client either answer. Serving the routes here
//! leaves the edge layer the only one that reads `grpc-timeout`, so a passed deadline is always
//! `DEADLINE_EXCEEDED`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tower::limit::ConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower::ServiceExt as _;

use super::auth::AuthLayer;
use super::edge::EdgeLayer;
use crate::metrics::Metrics;
use tokio_rustls::TlsAcceptor;

/// How connections are served.
#[derive(Clone)]
pub struct Transport {
    /// TLS on every connection, when set.
    pub tls: Option<TlsAcceptor>,
    /// The longest any call may take, whatever its own deadline.
    pub request_timeout: Duration,
    /// Calls one connection may have in flight; more wait.
    pub concurrency_per_connection_max: usize,
}

/// The longest a client may take to complete its TLS handshake.
const HANDSHAKE_MAX: Duration = Duration::from_secs(10);

/// Serves `routes` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the open connections to finish their calls.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    transport: Transport,
    auth: AuthLayer,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let service = ServiceBuilder::new()
        .layer(EdgeLayer {
            request_timeout: transport.request_timeout,
            metrics,
        })
        .layer(auth)
        .service(routes.prepare());
    let mut builder = auto::Builder::new(TokioExecutor::new()).http2_only();
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    continue;
                }
            },
        };
        // Replies are small and latency matters: no Nagle delay.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "could not set TCP_NODELAY");
        }
        let per_connection = ServiceBuilder::new()
            .layer(ConcurrencyLimitLayer::new(
                transport.concurrency_per_connection_max,
            ))
            .service(service.clone())
            .map_request(|request: http::Request<Incoming>| request.map(tonic::body::Body::new));
        let service = TowerToHyperService::new(per_connection);
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let tls = transport.tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(tls) => {
                    // A client that opens a connection and says nothing is let go.
                    let handshake = tokio::time::timeout(HANDSHAKE_MAX, tls.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(error = %error, %peer, "connection ended with an error");
            }
        });
    }
    // Stop accepting at once, then let each connection finish what it has in flight.
    drop(listener);
    graceful.shutdown().await;
}
