//! The Keys service (admin only, by the role table): create, list and revoke API keys, as the
//! `credit-ledger key` commands do.

use std::sync::Arc;

use tonic::{Code, Request, Response, Status};

use super::convert as c;
use super::status::with_metadata;
use super::Services;
use crate::auth::{ApiKey, Role};
use crate::keys::{self, KeyError};
use crate::proto as p;

pub struct KeysService(pub Arc<Services>);

#[tonic::async_trait]
impl p::keys_server::Keys for KeysService {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn create_key(
        &self,
        request: Request<p::CreateKeyRequest>,
    ) -> Result<Response<p::CreateKeyResponse>, Status> {
        let r = request.into_inner();
        let role: Role = r.role.parse().map_err(|_| {
            invalid(
                "role",
                "one of admin, gateway, billing, support, finance, reader, account",
            )
        })?;
        let account = match r.account {
            // Said before any lookup: the account would not be used.
            Some(_) if role != Role::Account => return Err(status(KeyError::AccountNotAllowed)),
            Some(account) => {
                let account = c::account_ref("account", Some(account))?;
                Some(self.0.resolve_existing(account).await?)
            }
            None => None,
        };
        let now = self.0.clock.now();
        let (key, secret) = keys::create(&self.0.store, role, &r.name, account, now)
            .await
            .map_err(status)?;
        tracing::info!(prefix = %key.prefix, role = %key.role, "API key created");
        Ok(Response::new(p::CreateKeyResponse {
            key: Some(api_key(&key)),
            secret: secret.expose().to_string(),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_keys(
        &self,
        _: Request<p::ListKeysRequest>,
    ) -> Result<Response<p::ListKeysResponse>, Status> {
        let keys = self.0.store.keys().await?;
        Ok(Response::new(p::ListKeysResponse {
            keys: keys.iter().map(api_key).collect(),
        }))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn revoke_key(
        &self,
        request: Request<p::RevokeKeyRequest>,
    ) -> Result<Response<p::RevokeKeyResponse>, Status> {
        let prefix = request.into_inner().prefix;
        let now = self.0.clock.now();
        keys::revoke(&self.0.store, &prefix, now)
            .await
            .map_err(status)?;
        tracing::info!(%prefix, "API key revoked");
        Ok(Response::new(p::RevokeKeyResponse {}))
    }
}

fn api_key(key: &ApiKey) -> p::ApiKey {
    p::ApiKey {
        prefix: key.prefix.clone(),
        role: key.role.to_string(),
        name: key.name.clone(),
        account_id: key.account.map(|a| a.to_string()).unwrap_or_default(),
        created_at: Some(c::timestamp(key.created_at)),
        revoked_at: key.revoked_at.map(c::timestamp),
    }
}

fn invalid(field: &str, rule: &str) -> Status {
    with_metadata(
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
        &format!("{field}: {rule}"),
        &[("field", field.to_string())],
    )
}

fn status(error: KeyError) -> Status {
    match error {
        KeyError::InvalidName => invalid("name", &error.to_string()),
        KeyError::AccountRequired | KeyError::AccountNotAllowed => {
            invalid("account", &error.to_string())
        }
        KeyError::AccountNotFound(account) => with_metadata(
            Code::NotFound,
            "ACCOUNT_NOT_FOUND",
            &error.to_string(),
            &[("account", account.to_string())],
        ),
        KeyError::NotFound(prefix) => with_metadata(
            Code::NotFound,
            "API_KEY_NOT_FOUND",
            "no active key with this prefix",
            &[("prefix", prefix)],
        ),
        KeyError::Store(error) => error.into(),
        KeyError::Secret(error) => {
            tracing::error!(%error, "could not make a key");
            super::status::internal()
        }
    }
}
