//! TLS with rustls, with certificates made for each test run (rcgen): a client that trusts the
//! server's CA is served; a plaintext client and one that does not trust the CA are not. With a
//! client CA configured (mutual TLS), a client must also present a certificate that CA signed.

use std::path::{Path, PathBuf};

use credit_ledger::proto as p;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::helpers::{Backend, TestApp};

/// A certificate and its key, in PEM.
struct Pem {
    cert: String,
    key: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str], client: bool) -> Pem {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.extended_key_usages = vec![match client {
        true => ExtendedKeyUsagePurpose::ClientAuth,
        false => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

pub(crate) struct Pki {
    dir: tempfile::TempDir,
    ca: String,
    client: Pem,
    stranger: Pem,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("credit-ledger test CA");
        let server = leaf(&ca, &["localhost", "127.0.0.1"], false);
        std::fs::write(dir.path().join("server.pem"), &server.cert).unwrap();
        std::fs::write(dir.path().join("server.key"), &server.key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let client = leaf(&ca, &["gateway"], true);
        let other = self::ca("another CA");
        let stranger = leaf(&other, &["gateway"], true);
        Pki {
            ca: ca.pem(),
            dir,
            client,
            stranger,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub(crate) async fn tls_app(backend: Backend, pki: &Pki, mutual: bool) -> TestApp {
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    TestApp::spawn_with(backend, move |config| {
        config.tls_cert_path = Some(cert);
        config.tls_key_path = Some(key);
        config.tls_client_ca_path = mutual.then_some(ca);
    })
    .await
}

/// Calls GetBalance for an account that does not exist: answered NOT_FOUND when the call got
/// through, an error of the transport when it did not.
async fn reaches(app: &TestApp, tls: Option<ClientTlsConfig>) -> bool {
    let port = app.addr.rsplit(':').next().unwrap().to_string();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://localhost:{port}")).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(_) => return false,
    };
    let request = p::GetBalanceRequest {
        account: Some(p::AccountRef {
            r#ref: Some(p::account_ref::Ref::ExternalId("nobody".into())),
        }),
        as_of: None,
    };
    let answer = p::usage_client::UsageClient::new(channel)
        .get_balance(request)
        .await;
    match answer {
        Err(status) if status.code() == tonic::Code::NotFound => true,
        other => {
            assert!(other.is_err(), "{other:?}");
            false
        }
    }
}

pub(crate) fn trusting(pki: &Pki) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost")
}

fn identity(pem: &Pem) -> Identity {
    Identity::from_pem(&pem.cert, &pem.key)
}

async fn tls_serves_only_clients_that_trust_its_ca(backend: Backend) {
    let pki = Pki::new();
    let app = tls_app(backend, &pki, false).await;
    assert!(reaches(&app, Some(trusting(&pki))).await);
    assert!(!reaches(&app, None).await, "a plaintext client was served");
    let distrustful = ClientTlsConfig::new().domain_name("localhost");
    assert!(!reaches(&app, Some(distrustful)).await);
}

async fn mutual_tls_refuses_clients_without_a_certificate_its_ca_signed(backend: Backend) {
    let pki = Pki::new();
    let app = tls_app(backend, &pki, true).await;
    let signed = trusting(&pki).identity(identity(&pki.client));
    assert!(reaches(&app, Some(signed)).await);
    assert!(!reaches(&app, Some(trusting(&pki))).await, "no certificate");
    let stranger = trusting(&pki).identity(identity(&pki.stranger));
    assert!(
        !reaches(&app, Some(stranger)).await,
        "another CA's certificate"
    );
    assert!(!reaches(&app, None).await, "plaintext");
}

#[test]
fn tls_settings_go_together() {
    let path = |p: &str| Some(Path::new(p).to_path_buf());
    let mut config = credit_ledger::config::Config {
        tls_cert_path: path("cert.pem"),
        ..Default::default()
    };
    assert!(config.validate().is_err());
    config.tls_key_path = path("key.pem");
    assert!(config.validate().is_ok());
    config.tls_cert_path = None;
    config.tls_key_path = None;
    config.tls_client_ca_path = path("ca.pem");
    assert!(config.validate().is_err());
}

crate::both_stores!(
    tls_serves_only_clients_that_trust_its_ca,
    mutual_tls_refuses_clients_without_a_certificate_its_ca_signed,
);
