//! TLS as hosted Supabase requires it: a cluster with a certificate signed by a test CA, and
//! libpq's sslmode semantics checked for real.

use pg_harness::{Cluster, ClusterOptions};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tenantguard_catalog::connect;

struct TlsCluster {
    cluster: Cluster,
    ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn tls_cluster() -> TlsCluster {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    // The certificate names `localhost` only, not 127.0.0.1.
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    let cert_file = dir.path().join("server.crt");
    let key_file = dir.path().join("server.key");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    std::fs::write(&cert_file, server_cert.pem()).unwrap();
    std::fs::write(&key_file, server_key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The server runs as the postgres OS user when we are root: it must own its key.
    if let Some((uid, gid)) = postgres_ids() {
        for f in [&cert_file, &key_file] {
            std::os::unix::fs::chown(f, Some(uid), Some(gid)).unwrap();
        }
    }
    let cluster = Cluster::start_with(ClusterOptions {
        settings: vec![
            ("ssl".into(), "on".into()),
            ("ssl_cert_file".into(), cert_file.display().to_string()),
            ("ssl_key_file".into(), key_file.display().to_string()),
        ],
    })
    .unwrap();
    TlsCluster {
        cluster,
        ca_file,
        _dir: dir,
    }
}

fn postgres_ids() -> Option<(u32, u32)> {
    let id = |args: &[&str]| {
        let out = std::process::Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

async fn uses_tls(url: &str) -> Result<bool, String> {
    let (client, _) = connect(url).await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmodes_behave_like_libpq() {
    let t = tls_cluster();
    let port = t.cluster.port();
    let ca = t.ca_file.display().to_string();
    let base = |host: &str| format!("postgres://postgres:postgres@{host}:{port}/postgres");

    // require: encrypted, certificate not checked.
    assert_eq!(
        uses_tls(&format!("{}?sslmode=require", base("127.0.0.1"))).await,
        Ok(true)
    );
    // verify-full: trusted CA and the right name.
    assert_eq!(
        uses_tls(&format!(
            "{}?sslmode=verify-full&sslrootcert={ca}",
            base("localhost")
        ))
        .await,
        Ok(true)
    );
    // The same in key=value form.
    assert_eq!(
        uses_tls(&format!("host=localhost port={port} user=postgres password=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca}'")).await,
        Ok(true)
    );
    // verify-full refuses a certificate that does not name the host …
    let err = uses_tls(&format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        base("127.0.0.1")
    ))
    .await
    .unwrap_err();
    assert!(
        err.contains("cannot connect") && err.contains("certificate"),
        "{err}"
    );
    // … verify-ca accepts it (the chain is trusted; the name is not checked).
    assert_eq!(
        uses_tls(&format!(
            "{}?sslmode=verify-ca&sslrootcert={ca}",
            base("127.0.0.1")
        ))
        .await,
        Ok(true)
    );
    // verify-full with the public web roots does not trust a private CA.
    let err = uses_tls(&format!("{}?sslmode=verify-full", base("localhost")))
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // A missing root file is a clear error.
    let err = uses_tls(&format!(
        "{}?sslmode=verify-full&sslrootcert=/nonexistent.pem",
        base("localhost")
    ))
    .await
    .unwrap_err();
    assert!(err.contains("sslrootcert /nonexistent.pem"), "{err}");
    // disable: plain text.
    assert_eq!(
        uses_tls(&format!("{}?sslmode=disable", base("127.0.0.1"))).await,
        Ok(false)
    );
}
