//! The key check in front of every service: a tower layer that reads `authorization: Bearer
//! <key>`, finds the key in a cache the server reloads every `auth_refresh_ms`, and lets the call
//! through only if the key's role may call the method (`auth::RULES`). The caller is the
//! task-local [`current_caller`] while the call is served: the services read an account-scoped
//! key's account from it, and the actor their entries record.
//!
//! - No key where one is required: `UNAUTHENTICATED`, reason `API_KEY_MISSING`.
//! - A key that is malformed, unknown or revoked: `UNAUTHENTICATED`, reason `API_KEY_INVALID`.
//!   An unknown prefix is hashed and compared like a known one, so the time taken does not say
//!   whether a prefix exists.
//! - A valid key whose role may not call the method: `PERMISSION_DENIED`, reason
//!   `ROLE_NOT_ALLOWED`, with the key's role and the roles that may call it.
//! - Health checks and reflection need no key.
//!
//! No request reads the database: a revoked key stops working at the next reload.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::{Code, Status};
use tower::{Layer, Service};

use super::status::with_metadata;
use crate::auth::{allowed, is_open, roles_for, ApiKey, Caller, Role, Secret};
use crate::metrics::Metrics;
use crate::store::{Store, StoreResult};

tokio::task_local! {
    /// The caller of the call being served; `None` for a call without a key.
    static CALLER: Option<Caller>;
}

/// The caller of the call being served: `None` without a key (or outside a call).
pub fn current_caller() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok().flatten()
}

/// The keys that are not revoked, by prefix.
#[derive(Clone)]
pub struct KeyCache {
    keys: Arc<RwLock<HashMap<String, ApiKey>>>,
    metrics: Arc<Metrics>,
}

/// What an unknown prefix is compared against: no key hashes to it, and comparing costs the same.
const NO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl KeyCache {
    /// An empty cache; [`KeyCache::reload`] fills it.
    pub fn new(metrics: Arc<Metrics>) -> KeyCache {
        KeyCache {
            keys: Arc::default(),
            metrics,
        }
    }

    /// Reloads every key that is not revoked.
    pub async fn reload(&self, store: &Store) -> StoreResult<usize> {
        let keys: HashMap<String, ApiKey> = store
            .keys()
            .await?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| (k.prefix.clone(), k))
            .collect();
        let count = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(count)
    }

    /// Reloads every `every` until `stop` turns true. A failed reload keeps the keys it had and
    /// is logged; the next one tries again.
    pub async fn refresh(
        self,
        store: Store,
        every: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        crate::clock::every(every, stop, || async {
            if let Err(error) = self.reload(&store).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "could not reload the API keys"
                );
            }
        })
        .await
    }

    /// The caller `secret` stands for, if it is a key that is not revoked.
    pub fn check(&self, secret: &Secret) -> Option<Caller> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.get(secret.prefix());
        let matches = secret.matches(key.map_or(NO_HASH, |k| k.secret_hash.as_str()));
        let key = key.filter(|_| matches);
        let kind = if key.is_some() { "valid" } else { "invalid" };
        self.metrics.count(&self.metrics.key_checks, kind);
        let key = key?;
        Some(Caller {
            prefix: key.prefix.clone(),
            role: key.role,
            account: key.account,
        })
    }
}

#[derive(Clone)]
pub struct AuthLayer {
    pub keys: KeyCache,
    /// Whether a call without a key is refused (a key that is sent is checked either way).
    pub required: bool,
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            keys: self.keys.clone(),
            required: self.required,
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    keys: KeyCache,
    required: bool,
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.admit(&request) {
            Ok(caller) => {
                let inner = &mut self.inner;
                let call = CALLER.sync_scope(caller.clone(), || inner.call(request));
                Box::pin(CALLER.scope(caller, call))
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

impl<S> Auth<S> {
    /// Lets the call through, with its caller (`None` without a key), or answers why not.
    fn admit<B>(&self, request: &http::Request<B>) -> Result<Option<Caller>, Status> {
        let path = request.uri().path();
        if is_open(path) {
            return Ok(None);
        }
        let Some(header) = request.headers().get(http::header::AUTHORIZATION) else {
            return match self.required {
                true => Err(missing()),
                false => Ok(None),
            };
        };
        let caller = bearer(header)
            .and_then(|secret| self.keys.check(&secret))
            .ok_or_else(invalid)?;
        if !allowed(caller.role, path) {
            return Err(denied(caller.role, path));
        }
        Ok(Some(caller))
    }
}

/// The key in `Bearer <key>` (the scheme in any case, as HTTP allows).
fn bearer(header: &http::HeaderValue) -> Option<Secret> {
    let value = header.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    match scheme.eq_ignore_ascii_case("bearer") {
        true => Secret::parse(token.trim()).ok(),
        false => None,
    }
}

fn missing() -> Status {
    with_metadata(
        Code::Unauthenticated,
        "API_KEY_MISSING",
        "this server requires an API key: send `authorization: Bearer <key>`",
        &[],
    )
}

fn invalid() -> Status {
    with_metadata(
        Code::Unauthenticated,
        "API_KEY_INVALID",
        "the API key is malformed, unknown or revoked",
        &[],
    )
}

fn denied(role: Role, path: &str) -> Status {
    let roles: Vec<&str> = roles_for(path)
        .unwrap_or_else(|| vec![Role::Admin])
        .iter()
        .map(|r| r.as_str())
        .collect();
    let roles = roles.join(",");
    with_metadata(
        Code::PermissionDenied,
        "ROLE_NOT_ALLOWED",
        &format!("a key with role {role} may not call {path}; it takes one of: {roles}"),
        &[("role", role.to_string()), ("allowed_roles", roles.clone())],
    )
}
