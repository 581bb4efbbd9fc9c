//! API keys and roles, through the real server with keys required: every RPC of the API is
//! refused without a key and with a key of each role its rule does not name, and let through with
//! one it does (a table generated from the services the server registers and from `auth::RULES`,
//! so neither can drift); an account-scoped key reads only its account; a revoked key stops
//! working within the reload interval.

use std::time::{Duration, Instant};

use chrono::Utc;
use credit_ledger::auth::{allowed, Role, Secret, RULES};
use credit_ledger::config::AuthMode;
use credit_ledger::keys;
use credit_ledger::ledger::AccountId;
use credit_ledger::proto as p;
use prost::Message as _;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::helpers::{by_id, reason, Backend, TestApp};

/// Every method of the API as the server registers it: its path, and whether it streams.
fn methods() -> Vec<(String, bool)> {
    let set = prost_types::FileDescriptorSet::decode(p::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in set.file.iter().filter(|f| f.package() == "creditledger.v1") {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/creditledger.v1.{}/{}", service.name(), method.name());
                methods.push((path, method.server_streaming()));
            }
        }
    }
    methods.sort();
    methods
}

/// Calls `path` with an empty request (every field unset) under `key`, and returns the status
/// it was answered with (OK when it was answered with a message or a stream).
async fn call(channel: &Channel, path: &str, streaming: bool, key: Option<&str>) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let mut request = tonic::Request::new(());
    if let Some(key) = key {
        let value: MetadataValue<_> = format!("Bearer {key}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    let path = PathAndQuery::try_from(path.to_string()).unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let answer = match streaming {
        true => grpc
            .server_streaming(request, path, codec)
            .await
            .map(|_| ()),
        false => grpc.unary(request, path, codec).await.map(|_| ()),
    };
    answer.err().unwrap_or_else(|| Status::ok(""))
}

async fn keyed_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.auth = AuthMode::Required;
        config.auth_refresh_ms = 20;
    })
    .await
}

async fn key(app: &TestApp, role: Role, account: Option<AccountId>) -> Secret {
    let name = format!("test-{role}");
    let (_, secret) = keys::create(&app.store, role, &name, account, Utc::now())
        .await
        .expect("key created");
    secret
}

/// Waits, a bounded while, until `key` is taken (or, with `taken` false, refused) on a call
/// that needs a valid key of any role, and returns how long that took.
pub(crate) async fn until(app: &TestApp, key: &Secret, taken: bool) -> Duration {
    let channel = app.channel().await;
    let started = Instant::now();
    for _ in 0..250 {
        let status = call(
            &channel,
            "/creditledger.v1.Usage/GetBalance",
            false,
            Some(key.expose()),
        )
        .await;
        if (status.code() != Code::Unauthenticated) == taken {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "key {key:?} was not {}",
        if taken { "taken" } else { "refused" }
    );
}

async fn every_method_takes_exactly_the_roles_its_rule_names(backend: Backend) {
    let app = keyed_app(backend).await;
    let methods = methods();
    let listed: Vec<String> = {
        let mut paths: Vec<String> = RULES.iter().map(|r| r.path.to_string()).collect();
        paths.sort();
        paths
    };
    let served: Vec<String> = methods.iter().map(|(path, _)| path.clone()).collect();
    assert_eq!(listed, served, "auth::RULES and the services disagree");
    let account = AccountId(uuid::Uuid::now_v7());
    let mut secrets = Vec::new();
    for role in Role::ALL {
        let scope = (role == Role::Account).then_some(account);
        let secret = match scope {
            // An account-scoped key is tied to an account that exists: make one with admin.
            Some(_) => None,
            None => Some(key(&app, role, None).await),
        };
        secrets.push((role, secret));
    }
    let admin = secrets[0].1.clone().expect("admin first");
    until(&app, &admin, true).await;
    let owned = open_account(&app, &admin, "owned").await;
    let scoped = key(&app, Role::Account, Some(owned)).await;
    secrets[6].1 = Some(scoped.clone());
    until(&app, &scoped, true).await;
    let channel = app.channel().await;
    let mut checked = 0;
    for (path, streaming) in &methods {
        let status = call(&channel, path, *streaming, None).await;
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (Code::Unauthenticated, "API_KEY_MISSING"),
            "{path} without a key"
        );
        let forged = format!("cl_{}_{}", "0".repeat(12), "0".repeat(64));
        let status = call(&channel, path, *streaming, Some(&forged)).await;
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (Code::Unauthenticated, "API_KEY_INVALID"),
            "{path} with an unknown key"
        );
        for (role, secret) in &secrets {
            let secret = secret.as_ref().expect("every role has a key");
            let status = call(&channel, path, *streaming, Some(secret.expose())).await;
            let refused = reason(&status) == "ROLE_NOT_ALLOWED";
            assert_eq!(
                refused,
                !allowed(*role, path),
                "{path} as {role}: {status:?}"
            );
            match refused {
                true => assert_eq!(status.code(), Code::PermissionDenied),
                false => assert_ne!(status.code(), Code::Unauthenticated, "{path} as {role}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, methods.len() * Role::ALL.len());
    // Health and reflection are open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest::default();
    assert!(health.check(request).await.is_ok());
}

async fn open_account(app: &TestApp, admin: &Secret, name: &str) -> AccountId {
    let mut accounts = p::accounts_client::AccountsClient::new(app.channel().await);
    let mut request = tonic::Request::new(p::CreateAccountRequest {
        idempotency_key: format!("create-{name}"),
        external_id: name.into(),
        unit: "CREDIT".parse().unwrap(),
        ..Default::default()
    });
    let value: MetadataValue<_> = format!("Bearer {}", admin.expose()).parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    let account = accounts.create_account(request).await.expect("account");
    let id = account.into_inner().account.unwrap().account_id;
    id.parse().unwrap()
}

/// A customer-facing key sees its own account's balance and nothing of another's, by id or by
/// external id, whether or not the other exists.
async fn an_account_key_reads_only_its_account(backend: Backend) {
    let app = keyed_app(backend).await;
    let admin = key(&app, Role::Admin, None).await;
    until(&app, &admin, true).await;
    let own = open_account(&app, &admin, "own").await;
    let other = open_account(&app, &admin, "other").await;
    let scoped = key(&app, Role::Account, Some(own)).await;
    until(&app, &scoped, true).await;
    let mut usage = p::usage_client::UsageClient::new(app.channel().await);
    let balance = |account: p::AccountRef| {
        let mut request = tonic::Request::new(p::GetBalanceRequest {
            account: Some(account),
            as_of: None,
        });
        let value: MetadataValue<_> = format!("Bearer {}", scoped.expose()).parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        request
    };
    let external = |id: &str| p::AccountRef {
        r#ref: Some(p::account_ref::Ref::ExternalId(id.into())),
    };
    assert!(usage
        .get_balance(balance(by_id(&own.to_string())))
        .await
        .is_ok());
    assert!(usage.get_balance(balance(external("own"))).await.is_ok());
    let missing = AccountId(uuid::Uuid::now_v7()).to_string();
    for account in [
        by_id(&other.to_string()),
        external("other"),
        by_id(&missing),
        external("nobody"),
    ] {
        let status = usage.get_balance(balance(account)).await.unwrap_err();
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (Code::PermissionDenied, "ACCOUNT_NOT_ALLOWED")
        );
    }
}

/// A revoked key stops working within the reload interval; keys are never read per request.
async fn a_revoked_key_is_refused_within_the_reload_interval(backend: Backend) {
    let app = keyed_app(backend).await;
    let gateway = key(&app, Role::Gateway, None).await;
    until(&app, &gateway, true).await;
    keys::revoke(&app.store, gateway.prefix(), Utc::now())
        .await
        .unwrap();
    let took = until(&app, &gateway, false).await;
    // Reloads every 20 ms here; the bound allows for a slow machine, not for no reload at all.
    assert!(took < Duration::from_secs(2), "{took:?}");
    let listed = app.store.keys().await.unwrap();
    assert!(listed[0].revoked_at.is_some());
    assert!(keys::revoke(&app.store, gateway.prefix(), Utc::now())
        .await
        .is_err());
}

/// The Keys service does what the `key` commands do, for an admin key.
async fn an_admin_makes_lists_and_revokes_keys_over_the_api(backend: Backend) {
    let app = keyed_app(backend).await;
    let admin = key(&app, Role::Admin, None).await;
    until(&app, &admin, true).await;
    let mut keys = p::keys_client::KeysClient::new(app.channel().await);
    let request = |role: &str, account: Option<p::AccountRef>| p::CreateKeyRequest {
        role: role.into(),
        name: "edge-2".into(),
        account,
    };
    let made = keys
        .create_key(keyed(request("gateway", None), &admin))
        .await
        .unwrap()
        .into_inner();
    let secret = Secret::parse(&made.secret).expect("a key");
    let made = made.key.unwrap();
    assert_eq!(
        (made.role.as_str(), made.prefix.as_str()),
        ("gateway", secret.prefix())
    );
    until(&app, &secret, true).await;
    let listed = keys
        .list_keys(keyed(p::ListKeysRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let mut prefixes: Vec<&str> = listed.iter().map(|k| k.prefix.as_str()).collect();
    prefixes.sort();
    let mut expected = [admin.prefix(), secret.prefix()];
    expected.sort();
    assert_eq!(prefixes, expected);
    let revoke = || p::RevokeKeyRequest {
        prefix: secret.prefix().into(),
    };
    keys.revoke_key(keyed(revoke(), &admin)).await.unwrap();
    until(&app, &secret, false).await;
    let again = keys.revoke_key(keyed(revoke(), &admin)).await.unwrap_err();
    assert_eq!(
        (again.code(), reason(&again).as_str()),
        (Code::NotFound, "API_KEY_NOT_FOUND")
    );
    for (bad, field) in [
        (request("owner", None), "role"),
        (request("account", None), "account"),
        (
            request("gateway", Some(by_id(&uuid::Uuid::now_v7().to_string()))),
            "account",
        ),
    ] {
        let refused = keys.create_key(keyed(bad, &admin)).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{field}: {refused:?}"
        );
        assert_eq!(crate::helpers::metadata(&refused, "field"), field);
    }
    let missing = request("account", Some(by_id(&uuid::Uuid::now_v7().to_string())));
    let refused = keys.create_key(keyed(missing, &admin)).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
}

crate::both_stores!(
    an_admin_makes_lists_and_revokes_keys_over_the_api,
    entries_record_the_key_that_caused_them,
    every_method_takes_exactly_the_roles_its_rule_names,
    an_account_key_reads_only_its_account,
    a_revoked_key_is_refused_within_the_reload_interval,
);

/// Server reflection answers in both versions, without a key: older tools speak only v1alpha.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_answers_in_v1_and_v1alpha_without_a_key() {
    use tonic_reflection::pb::{v1, v1alpha};

    let app = keyed_app(Backend::Sqlite).await;
    let list = || v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut old =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let request = tokio_stream::iter([list()]);
    let mut answers = old
        .server_reflection_info(request)
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("an answer");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(listed)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}")
    };
    let names: Vec<String> = listed.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"creditledger.v1.Usage".to_string()),
        "{names:?}"
    );
    let mut new = v1::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let request = tokio_stream::iter([v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    }]);
    let mut answers = new
        .server_reflection_info(request)
        .await
        .unwrap()
        .into_inner();
    assert!(answers.message().await.unwrap().is_some());
}

fn keyed<T>(message: T, key: &Secret) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {}", key.expose()).parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

/// Each entry records the key that caused it, in ListEntries, in the export and under its hash;
/// a retry under another key is the same request, answered from the first.
async fn entries_record_the_key_that_caused_them(backend: Backend) {
    let app = keyed_app(backend).await;
    let billing = key(&app, Role::Billing, None).await;
    let gateway = key(&app, Role::Gateway, None).await;
    let admin = key(&app, Role::Admin, None).await;
    for key in [&billing, &gateway, &admin] {
        until(&app, key, true).await;
    }
    let channel = app.channel().await;
    let mut accounts = p::accounts_client::AccountsClient::new(channel.clone());
    let created = accounts
        .create_account(keyed(
            p::CreateAccountRequest {
                idempotency_key: "create".into(),
                external_id: "audited".into(),
                unit: "CREDIT".parse().unwrap(),
                ..Default::default()
            },
            &billing,
        ))
        .await
        .unwrap();
    let account = created.into_inner().account.unwrap().account_id;
    let mut credits = p::credits_client::CreditsClient::new(channel.clone());
    let top_up = p::TopUpRequest {
        idempotency_key: "pay".into(),
        account: Some(by_id(&account)),
        quantity: "10".into(),
        price: "1".into(),
        currency: "USD".parse().unwrap(),
        ..Default::default()
    };
    credits.top_up(keyed(top_up, &billing)).await.unwrap();
    let mut usage = p::usage_client::UsageClient::new(channel.clone());
    let debit = p::DebitRequest {
        idempotency_key: "use".into(),
        account: Some(by_id(&account)),
        quantity: "3".into(),
        ..Default::default()
    };
    let first = usage.debit(keyed(debit.clone(), &gateway)).await.unwrap();
    // The same debit again, under the admin key: the first answer, and no second entry.
    let again = usage.debit(keyed(debit, &admin)).await.unwrap();
    assert_eq!(first.into_inner(), again.into_inner());
    let mut journal = p::journal_client::JournalClient::new(channel);
    let listed = journal
        .list_entries(keyed(p::ListEntriesRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let actors: Vec<&str> = listed.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, [billing.prefix(), gateway.prefix()]);
    // And in the export: a line per posting, each with its entry's actor.
    let at = |month: u32| prost_types::Timestamp {
        seconds: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, month, 1, 0, 0, 0)
            .unwrap()
            .timestamp(),
        nanos: 0,
    };
    let request = p::ExportJournalRequest {
        from: Some(at(1)),
        to: Some(at(2)),
        format: p::ExportFormat::Csv as i32,
        ..Default::default()
    };
    let mut chunks = journal
        .export_journal(keyed(request, &admin))
        .await
        .unwrap()
        .into_inner();
    let mut csv_text = Vec::new();
    while let Some(chunk) = chunks.message().await.unwrap() {
        csv_text.extend(chunk.data);
    }
    let mut reader = csv::Reader::from_reader(csv_text.as_slice());
    let actor = reader.headers().unwrap().iter().position(|h| h == "actor");
    let actor = actor.expect("an actor column");
    let exported: std::collections::BTreeSet<String> = reader
        .records()
        .map(|r| r.unwrap()[actor].to_string())
        .collect();
    let expected = [billing.prefix(), gateway.prefix()].map(String::from);
    assert_eq!(exported, expected.into_iter().collect());
    let report = credit_ledger::journal::verify::verify(&app.store)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    // The actor is under the hash: changed in the store, the chain no longer verifies.
    let forged = format!("UPDATE entries SET actor = '{}'", admin.prefix());
    sqlx::query(&forged)
        .execute(app.store.pool())
        .await
        .unwrap();
    let report = credit_ledger::journal::verify::verify(&app.store)
        .await
        .unwrap();
    assert!(!report.is_clean(), "a changed actor went unseen");
}
