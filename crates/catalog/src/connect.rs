//! Connecting: a `postgres://` URL or a libpq `key=value` string (unix-socket hosts included),
//! TLS through rustls with libpq's `sslmode` semantics, and one-line errors.
//!
//! tokio-postgres parses both connection-string forms but knows only `sslmode` disable / prefer
//! / require and no `sslrootcert`; hosted Supabase asks for `verify-full`. So we take the TLS
//! options out of the string ourselves (a small tokenizer, below), hand the rest to
//! tokio-postgres, and build the certificate verification libpq would do.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot read sslrootcert {path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
}

/// Where a connection string points, with the password left out, for messages.
#[derive(Debug, Clone)]
pub struct ConnectTarget(pub String);

impl std::fmt::Display for ConnectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// libpq's `prefer` / `require`: encrypt, but check no certificate.
    None,
    /// `verify-ca`: the chain must lead to a trusted root.
    Ca,
    /// `verify-full`: and the certificate must name the host.
    Full,
}

struct TlsOptions {
    verify: Verify,
    root_cert: Option<String>,
}

/// Connects and spawns the connection task. Errors are one line and never contain the password.
pub async fn connect(url: &str) -> Result<(Client, ConnectTarget), ConnectError> {
    let (rest, tls) = split_tls_options(url)?;
    let config: Config = rest
        .parse()
        .map_err(|e: tokio_postgres::Error| ConnectError::InvalidUrl(error_text(&e)))?;
    if config.get_hosts().is_empty() {
        return Err(ConnectError::InvalidUrl(
            "no host given (add host=… or postgres://host/…)".into(),
        ));
    }
    let target = describe(&config);
    let err = |e: tokio_postgres::Error| ConnectError::Connect {
        target: target.0.clone(),
        reason: error_text(&e),
    };
    // A unix socket never carries TLS (as in libpq), and the rustls connector would reject a
    // socket path as a server name; so TLS is set up only when a TCP host is involved.
    let tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_)));
    let client = if tcp && config.get_ssl_mode() != tokio_postgres::config::SslMode::Disable {
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(&tls)?);
        let (client, connection) = config.connect(connector).await.map_err(err)?;
        tokio::spawn(connection);
        client
    } else {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(err)?;
        tokio::spawn(connection);
        client
    };
    Ok((client, target))
}

/// tokio-postgres errors print as "db error: FATAL: …" or "error connecting to server: …";
/// keep the informative part and the database's own message.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(&format!(": {t}"));
        }
        source = inner.source();
    }
    s
}

fn describe(config: &Config) -> ConnectTarget {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    ConnectTarget(format!("{user}@{host}:{port}/{db}"))
}

fn client_config(tls: &TlsOptions) -> Result<rustls::ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions");
    let verifier: Arc<dyn ServerCertVerifier> = match tls.verify {
        Verify::None => Arc::new(NoVerification(provider)),
        Verify::Ca | Verify::Full => {
            let roots = root_store(tls.root_cert.as_deref())?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ConnectError::RootCert {
                    path: tls.root_cert.clone().unwrap_or_default(),
                    reason: e.to_string(),
                })?;
            if tls.verify == Verify::Full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// libpq's order: `sslrootcert`, else `~/.postgresql/root.crt`, else the public web roots.
fn root_store(path: Option<&str>) -> Result<RootCertStore, ConnectError> {
    use rustls::pki_types::pem::PemObject;
    let mut store = RootCertStore::empty();
    let default = std::env::var_os("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".postgresql/root.crt"))
        .filter(|p| p.is_file());
    let file = path.map(std::path::PathBuf::from).or(default);
    match file {
        Some(file) => {
            let err = |reason: String| ConnectError::RootCert {
                path: file.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&file)
                .map_err(|e| err(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no PEM certificate in the file".into()));
            }
            for cert in certs {
                store.add(cert).map_err(|e| err(e.to_string()))?;
            }
        }
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(store)
}

/// Takes `sslmode` (when tokio-postgres does not know its value) and `sslrootcert` out of a
/// URL or key=value string; returns the rest for tokio-postgres and the TLS options.
fn split_tls_options(url: &str) -> Result<(String, TlsOptions), ConnectError> {
    let mut tls = TlsOptions {
        verify: Verify::None,
        root_cert: None,
    };
    let mut take = |key: &str, value: &str| -> Result<Option<String>, ConnectError> {
        match (key, value) {
            ("sslmode", "verify-full") => tls.verify = Verify::Full,
            ("sslmode", "verify-ca") => tls.verify = Verify::Ca,
            ("sslmode", "allow") => return Ok(Some("prefer".into())),
            ("sslrootcert", path) => tls.root_cert = Some(path.to_string()),
            ("sslcert" | "sslkey" | "sslpassword", _) => {
                return Err(ConnectError::InvalidUrl(format!(
                    "{key}: client certificates are not supported yet"
                )))
            }
            _ => return Ok(Some(value.to_string())),
        }
        // verify-* become `require` for tokio-postgres; the verifier does the rest.
        Ok((key == "sslmode").then(|| "require".to_string()))
    };

    let trimmed = url.trim();
    let rest = if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        match trimmed.split_once('?') {
            None => trimmed.to_string(),
            Some((base, query)) => {
                let mut kept = vec![];
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let decoded = percent_decode(v);
                    if let Some(v2) = take(k, &decoded)? {
                        kept.push(if v2 == decoded {
                            pair.to_string()
                        } else {
                            format!("{k}={v2}")
                        });
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = vec![];
        for (k, v) in tokenize_key_values(trimmed)? {
            if let Some(v) = take(&k, &v)? {
                kept.push(format!(
                    "{k}='{}'",
                    v.replace('\\', "\\\\").replace('\'', "\\'")
                ));
            }
        }
        kept.join(" ")
    };
    Ok((rest, tls))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// libpq's key=value syntax: `key = value` pairs, values optionally single-quoted with
/// backslash escapes.
fn tokenize_key_values(s: &str) -> Result<Vec<(String, String)>, ConnectError> {
    let mut out = vec![];
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ConnectError::InvalidUrl(format!(
                "expected `{key}=value` (a postgres:// URL or libpq key=value pairs)"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConnectError::InvalidUrl(format!(
                            "unterminated quoted value for `{key}`"
                        )))
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

/// `verify-ca`: accept a certificate whose chain is trusted even if it names another host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// libpq's `require`: the channel is encrypted but the certificate is not checked (libpq's
/// documented behaviour; use verify-full to check it). Handshake signatures are still verified.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_verify_full_becomes_require_with_verification() {
        let (rest, tls) =
            split_tls_options("postgres://u:p@db.example.com:6543/postgres?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x")
                .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@db.example.com:6543/postgres?sslmode=require&application_name=x"
        );
        assert_eq!(tls.verify, Verify::Full);
        assert_eq!(tls.root_cert.as_deref(), Some("/tmp/ca.pem"));
    }

    #[test]
    fn key_value_with_quotes_and_socket_host() {
        let (rest, tls) = split_tls_options(
            "host=/tmp/sock port=5433 user=postgres password='a b\\'c' sslmode=verify-ca",
        )
        .unwrap();
        assert_eq!(tls.verify, Verify::Ca);
        let config: Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"a b'c"[..]));
        assert!(matches!(&config.get_hosts()[0], Host::Unix(p) if p.to_str() == Some("/tmp/sock")));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(
            split_tls_options("hello world"),
            Err(ConnectError::InvalidUrl(_))
        ));
    }
}
