//! The identity of a request under its idempotency key: how a retry is recognised, across
//! processes and deploys. It is written here field by field, never derived from the shape of
//! today's command types, so renaming or reordering a field in `ledger/` changes no fingerprint.
//!
//! **Version 1** (the only one so far) is the lowercase hex SHA-256 of a JSON document: an object
//! with one key, the command's name, whose value is an object of the request's fields in the
//! order written below. Text is a JSON string (escaped as `serde_json` escapes it); amounts are
//! strings of the value as parsed (`1.50` is `1.5`, the parser normalises); times are RFC 3339 in
//! UTC with as many fractional digits as needed (`2026-03-01T00:00:00.000250Z`); an absent
//! optional value is `null`, except where a field says it is left out. These are the bytes the
//! first releases produced, so every record they stored is still recognised (the golden test in
//! `tests/it/engine/fingerprints.rs` pins them). A later version will be written with a `v2:`
//! prefix, so both can be told apart in the store.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::amount::{Money, Quantity};
use super::code::Currency;
use super::command::*;
use super::types::{AccountStatus, LowBalance};

/// The request's identity for idempotency: a hash of everything the caller sent.
pub fn fingerprint(command: &Command) -> String {
    hex::encode(Sha256::digest(document(command).as_bytes()))
}

/// The version 1 document of a command (what [`fingerprint`] hashes).
pub fn document(command: &Command) -> String {
    let mut o = Object {
        body: String::with_capacity(256),
    };
    let name = match command {
        Command::CreateAccount(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.text("external_id", &c.external_id);
            o.text("unit", c.unit.as_str());
            o.raw("unit_scale", &c.unit_scale.to_string());
            o.decimal("credit_line_limit", c.credit_line_limit.get());
            o.decimal("credit_line_price", c.credit_line_price.get());
            o.text("currency", c.currency.as_str());
            // Left out when unset: requests from before thresholds existed keep their identity.
            if !c.low_balance.is_none() {
                o.raw("low_balance", &low_balance(c.low_balance));
            }
            "CreateAccount"
        }
        Command::UpdateAccount(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.opt_decimal("credit_line_limit", c.credit_line_limit.map(Quantity::get));
            o.opt_decimal("credit_line_price", c.credit_line_price.map(Money::get));
            o.opt_text("status", c.status.map(AccountStatus::as_str));
            // Left out when unset, as above; a threshold removed is `{"kind":"none"}`.
            if let Some(threshold) = c.low_balance {
                o.raw("low_balance", &low_balance(threshold));
            }
            if let Some(book) = &c.price_book {
                o.text("price_book", book);
            }
            "UpdateAccount"
        }
        Command::Grant(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.text("kind", c.kind.as_str());
            o.decimal("quantity", c.quantity.get());
            o.decimal("price", c.price.get());
            // No currency is the empty string the first releases hashed.
            o.text("currency", c.currency.as_ref().map_or("", Currency::as_str));
            o.raw("priority", &c.priority.to_string());
            o.opt_time("effective_at", c.effective_at);
            o.opt_time("expires_at", c.expires_at);
            o.raw("scope", &texts(&c.scope));
            o.text("reference", &c.reference);
            "Grant"
        }
        Command::VoidGrant(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.shown("lot_id", c.lot_id);
            o.text("reason", &c.reason);
            o.raw("release_holds", &c.release_holds.to_string());
            "VoidGrant"
        }
        Command::Authorize(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.decimal("quantity", c.quantity.get());
            o.raw("ttl_ms", &c.ttl_ms.map_or("null".into(), |t| t.to_string()));
            o.text("meter", &c.meter);
            o.text("reference", &c.reference);
            // Left out when rated by quantity: those requests keep their identity.
            if let Some(u) = &c.usage {
                o.raw("usage", &usage(u));
            }
            "Authorize"
        }
        Command::Capture(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("hold_id", c.hold_id);
            o.decimal("quantity", c.quantity.get());
            o.raw("is_final", &c.is_final.to_string());
            o.text("overage", c.overage.as_str());
            if let Some(u) = &c.usage {
                o.raw("usage", &usage(u));
            }
            "Capture"
        }
        Command::Release(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("hold_id", c.hold_id);
            "Release"
        }
        Command::ExtendHold(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("hold_id", c.hold_id);
            o.raw("ttl_ms", &c.ttl_ms.to_string());
            "ExtendHold"
        }
        Command::Debit(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.decimal("quantity", c.quantity.get());
            o.text("meter", &c.meter);
            o.text("reference", &c.reference);
            if let Some(u) = &c.usage {
                o.raw("usage", &usage(u));
            }
            if !c.subject.is_empty() {
                o.text("subject", &c.subject);
            }
            "Debit"
        }
        Command::Adjust(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.text("direction", c.direction.as_str());
            o.decimal("quantity", c.quantity.get());
            o.opt_text("lot_id", c.lot_id.map(|l| l.to_string()).as_deref());
            o.text("reason", &c.reason);
            o.raw("priority", &c.priority.to_string());
            o.opt_time("expires_at", c.expires_at);
            "Adjust"
        }
        Command::CreateCommitment(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.text("kind", c.kind.as_str());
            o.decimal("quantity", c.quantity.get());
            o.decimal("price", c.price.get());
            o.decimal("minimum_spend", c.minimum_spend.get());
            o.text("currency", c.currency.as_str());
            o.opt_time("term_start", c.term_start);
            o.opt_time("term_end", Some(c.term_end));
            o.text("reference", &c.reference);
            "CreateCommitment"
        }
        // Not kept under a key, but given an identity all the same.
        Command::CreateBudget(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.text("subject", &c.subject);
            o.text("meter", &c.meter);
            o.decimal("limit", c.limit.get());
            o.text("period", c.period.as_str());
            o.text("time_zone", c.time_zone.name());
            o.raw("hard", &c.hard.to_string());
            o.raw("alerts", &numbers(&c.alerts));
            // Velocity limits came later: absent for a calendar budget, whose print is unchanged.
            if c.window_seconds > 0 {
                o.raw("window_seconds", &c.window_seconds.to_string());
            }
            if let Some(n) = c.max_requests {
                o.raw("max_requests", &n.to_string());
            }
            "CreateBudget"
        }
        Command::UpdateBudget(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.shown("budget_id", c.budget_id);
            o.decimal("limit", c.limit.get());
            o.raw("hard", &c.hard.to_string());
            o.raw("alerts", &numbers(&c.alerts));
            if let Some(n) = c.max_requests {
                o.raw("max_requests", &n.to_string());
            }
            "UpdateBudget"
        }
        Command::DeleteBudget(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.shown("budget_id", c.budget_id);
            "DeleteBudget"
        }
        Command::SetAutoTopUp(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.raw("enabled", &c.enabled.to_string());
            o.decimal("threshold", c.threshold.get());
            o.decimal("target", c.target.get());
            o.opt_decimal("monthly_cap", c.monthly_cap.map(Quantity::get));
            "SetAutoTopUp"
        }
        Command::FailTopUp(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.shown("request_id", c.request_id);
            o.text("reason", &c.reason);
            "FailTopUp"
        }
        Command::CreateRecurringGrant(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.decimal("quantity", c.quantity.get());
            o.text("period", c.period.as_str());
            o.text("time_zone", c.time_zone.name());
            o.text("kind", c.kind.as_str());
            o.decimal("price", c.price.get());
            o.opt_text("currency", c.currency.as_ref().map(|c| c.as_str()));
            o.decimal("rollover_cap", c.rollover_cap.get());
            "CreateRecurringGrant"
        }
        Command::DeleteRecurringGrant(c) => {
            o.text("idempotency_key", &c.idempotency_key);
            o.shown("account_id", c.account_id);
            o.shown("grant_id", c.grant_id);
            "DeleteRecurringGrant"
        }
        Command::Sweep(c) => {
            o.shown("account_id", c.account_id);
            o.raw("commitment_notice_ms", &c.commitment_notice_ms.to_string());
            "Sweep"
        }
    };
    format!("{{\"{name}\":{}}}", o.finish())
}

/// A JSON object written in the order its fields are added, straight into one buffer (this
/// runs once per command on the batch loop).
struct Object {
    body: String,
}

impl Object {
    fn key(&mut self, key: &str) {
        self.body.push(if self.body.is_empty() { '{' } else { ',' });
        self.body.push('"');
        self.body.push_str(key);
        self.body.push_str("\":");
    }

    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.body.push_str(json);
    }

    fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        push_string(&mut self.body, value);
    }

    fn opt_text(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(value) => self.text(key, value),
            None => self.raw(key, "null"),
        }
    }

    /// A value's `Display`, as a JSON string (ids, amounts: nothing to escape).
    fn shown(&mut self, key: &str, value: impl std::fmt::Display) {
        self.key(key);
        let _ = write!(self.body, "\"{value}\"");
    }

    fn decimal(&mut self, key: &str, value: Decimal) {
        self.shown(key, value);
    }

    fn opt_decimal(&mut self, key: &str, value: Option<Decimal>) {
        match value {
            Some(value) => self.shown(key, value),
            None => self.raw(key, "null"),
        }
    }

    fn opt_time(&mut self, key: &str, value: Option<DateTime<Utc>>) {
        match value {
            Some(t) => self.shown(key, t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => self.raw(key, "null"),
        }
    }

    fn finish(mut self) -> String {
        if self.body.is_empty() {
            self.body.push('{');
        }
        self.body.push('}');
        self.body
    }
}

/// Appends a JSON string, escaped as `serde_json` escapes it.
fn push_string(out: &mut String, value: &str) {
    let needs_escape = value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
    match needs_escape {
        false => {
            out.push('"');
            out.push_str(value);
            out.push('"');
        }
        true => out.push_str(&serde_json::Value::String(value.to_string()).to_string()),
    }
}

/// A JSON string, escaped as `serde_json` escapes it.
fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_string(&mut out, value);
    out
}

fn numbers(values: &[u32]) -> String {
    let items: Vec<String> = values.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(","))
}

fn texts(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| string(v)).collect();
    format!("[{}]", items.join(","))
}

/// A usage: an object of dimension to amount (as parsed: `1.50` is `1.5`), in dimension order.
fn usage(usage: &crate::ledger::rating::Usage) -> String {
    let items: Vec<String> = (usage.iter())
        .map(|(dimension, amount)| {
            format!(
                "{}:{}",
                string(dimension),
                string(&amount.normalize().to_string())
            )
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

fn low_balance(threshold: LowBalance) -> String {
    match threshold {
        LowBalance::None => "{\"kind\":\"none\"}".into(),
        LowBalance::Absolute(v) => format!(
            "{{\"kind\":\"absolute\",\"value\":{}}}",
            string(&v.get().to_string())
        ),
        LowBalance::Percent(v) => format!(
            "{{\"kind\":\"percent\",\"value\":{}}}",
            string(&v.get().to_string())
        ),
    }
}
