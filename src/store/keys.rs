//! The API keys: created, listed and revoked straight on the database (the first key needs no
//! running server), and read whole by the server's key cache.

use chrono::{DateTime, Utc};

use super::rows::*;
use super::sql::{select, Kind};
use super::{Store, StoreResult};
use crate::auth::ApiKey;

impl Store {
    pub async fn create_key(&self, key: &ApiKey) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO api_keys (prefix, secret_hash, role, name, account_id, created_at, \
             revoked_at) VALUES ($1, $2, $3, $4, {}, {}, NULL)",
            self.param(5, Kind::Id),
            self.param(6, Kind::Time),
        );
        select(&sql)
            .bind(&key.prefix)
            .bind(&key.secret_hash)
            .bind(key.role.as_str())
            .bind(&key.name)
            .bind(key.account.map(|a| a.to_string()))
            .bind(micros(key.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {} FROM api_keys ORDER BY created_at, prefix",
            self.columns(KEY_COLUMNS)
        );
        let rows = select(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes the key with `prefix`; false when there is no such key not yet revoked.
    pub async fn revoke_key(&self, prefix: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE api_keys SET revoked_at = {} WHERE prefix = $1 AND revoked_at IS NULL",
            self.param(2, Kind::Time),
        );
        let done = select(&sql)
            .bind(prefix)
            .bind(micros(at))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
