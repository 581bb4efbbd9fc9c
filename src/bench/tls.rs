//! `--tls`: a certificate authority and a server certificate made for one run (rcgen), so the
//! bench's own server speaks TLS and its clients trust it.

use std::path::PathBuf;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, ClientTlsConfig};

pub struct BenchTls {
    dir: PathBuf,
    ca: String,
}

impl BenchTls {
    pub fn generate() -> anyhow::Result<BenchTls> {
        let dir = std::env::temp_dir().join(format!(
            "credit-ledger-bench-tls-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "credit-ledger bench CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let server = CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &ca)?;
        std::fs::write(dir.join("server.pem"), server.pem())?;
        std::fs::write(dir.join("server.key"), key.serialize_pem())?;
        Ok(BenchTls { dir, ca: ca.pem() })
    }

    /// The server's settings.
    pub fn server_settings(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let path = |name: &str| {
            let path = self.dir.join(name);
            path.to_str()
                .map(str::to_string)
                .context("a temporary path that is not UTF-8")
        };
        Ok(vec![
            ("tls_cert_path", path("server.pem")?),
            ("tls_key_path", path("server.key")?),
        ])
    }

    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name("localhost")
    }
}

impl Drop for BenchTls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
