//! TLS to PostgreSQL, against servers of the test's own with certificates the test makes
//! (rcgen): libpq's `sslmode` values, `sslrootcert`, client certificates, from the URL and from
//! the PG* variables; `health` says whether the connection is encrypted and what was verified.

use crate::common;
use crate::own_pg::{self, OwnPostgres};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A certificate authority: its certificate (PEM) and what signs with it.
pub(crate) struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub(crate) fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A certificate signed by `ca`: (certificate PEM, key PEM).
pub(crate) fn leaf(
    ca: &Ca,
    cn: &str,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut p =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![purpose];
    p.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn health(data: &Path, url: &str, env: &[(&str, &str)]) -> Output {
    let mut c = common::escrowgrid(data);
    c.args(["--database-url", url, "health", "--json"]);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn transport(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["connected"], true, "{v}");
    v["transport"].clone()
}

fn refused(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "connected: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn tls_modes_certificates_and_client_certificates() {
    let ca1 = ca("EscrowGrid test CA");
    let stranger = ca("Some other CA");
    // The server's certificate names only "localhost": 127.0.0.1 is not its name.
    let (server_cert, server_key) = leaf(
        &ca1,
        "localhost",
        &["localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) =
        leaf(&ca1, "clientcert", &[], ExtendedKeyUsagePurpose::ClientAuth);
    let Some(pg) = own_pg::start_or_skip_with(
        "tls_modes_certificates_and_client_certificates",
        &[
            ("server.crt", &server_cert),
            ("server.key", &server_key),
            ("root.crt", &ca1.pem),
        ],
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'",
        "hostssl all clientcert 127.0.0.1/32 cert\nhost all clientcert 127.0.0.1/32 reject",
    ) else {
        return;
    };
    pg.psql("CREATE ROLE clientcert LOGIN SUPERUSER").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let ca1_file = file("ca1.pem", &ca1.pem);
    let stranger_file = file("stranger.pem", &stranger.pem);
    let cert_file = file("client.crt", &client_cert);
    let key_file = file("client.key", &client_key);
    let data = dir.path().join("data");
    let port = pg.port;
    let url =
        |host: &str, user: &str, q: &str| format!("postgres://{user}@{host}:{port}/postgres{q}");

    // verify-full with the right CA and host name: encrypted, certificate and name verified.
    let t = transport(&health(
        &data,
        &url(
            "localhost",
            "postgres",
            &format!("?sslmode=verify-full&sslrootcert={ca1_file}"),
        ),
        &[],
    ));
    assert_eq!(t["encrypted"], true, "{t}");
    assert_eq!(t["certificateVerified"], true, "{t}");
    assert_eq!(t["hostNameVerified"], true, "{t}");
    assert_eq!(t["sslMode"], "verify-full");
    assert!(t["protocol"].as_str().unwrap().starts_with("TLS"), "{t}");

    // The same from the PG* variables, with a URL that says nothing of TLS.
    let t = transport(&health(
        &data,
        &url("localhost", "postgres", ""),
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca1_file)],
    ));
    assert_eq!(t["hostNameVerified"], true, "{t}");

    // A host name the certificate does not carry: refused under verify-full, saying so…
    let why = refused(&health(
        &data,
        &url(
            "127.0.0.1",
            "postgres",
            &format!("?sslmode=verify-full&sslrootcert={ca1_file}"),
        ),
        &[],
    ));
    assert!(
        why.contains("certificate does not name the host 127.0.0.1") && why.contains("verify-ca"),
        "{why}"
    );
    // …accepted under verify-ca, which checks the certificate and not the name.
    let t = transport(&health(
        &data,
        &url(
            "127.0.0.1",
            "postgres",
            &format!("?sslmode=verify-ca&sslrootcert={ca1_file}"),
        ),
        &[],
    ));
    assert_eq!(
        (
            t["certificateVerified"].clone(),
            t["hostNameVerified"].clone()
        ),
        (Value::Bool(true), Value::Bool(false)),
        "{t}"
    );

    // A CA that did not sign the server's certificate: refused.
    let why = refused(&health(
        &data,
        &url(
            "localhost",
            "postgres",
            &format!("?sslmode=verify-full&sslrootcert={stranger_file}"),
        ),
        &[],
    ));
    assert!(
        why.contains("UnknownIssuer") && why.contains("not signed by a CA this client trusts"),
        "{why}"
    );

    // prefer (the default) against a server with TLS: encrypted, nothing verified — and health
    // says so.
    let t = transport(&health(&data, &url("127.0.0.1", "postgres", ""), &[]));
    assert_eq!(t["encrypted"], true, "{t}");
    assert_eq!(t["certificateVerified"], false, "{t}");
    let text = common::escrowgrid(&data)
        .args([
            "--database-url",
            &url("127.0.0.1", "postgres", ""),
            "health",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("connection:     encrypted (TLS") && text.contains("NOT verified"),
        "{text}"
    );

    // A client certificate: the role that must show one connects with it, and not without.
    let t = transport(&health(
        &data,
        &url(
            "localhost",
            "clientcert",
            &format!(
                "?sslmode=verify-full&sslrootcert={ca1_file}&sslcert={cert_file}&sslkey={key_file}"
            ),
        ),
        &[],
    ));
    assert_eq!(t["encrypted"], true, "{t}");
    let why = refused(&health(
        &data,
        &url(
            "localhost",
            "clientcert",
            &format!("?sslmode=verify-full&sslrootcert={ca1_file}"),
        ),
        &[],
    ));
    assert!(why.contains("requires a valid client certificate"), "{why}");

    // A replica (a copy of this server, with its certificates): health says how its own
    // connections are protected, apart from the primary's.
    let replica = pg.replica().expect("start a streaming replica");
    let replica_url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca1_file}",
        replica.port
    );
    let o = health(
        &data,
        &url("127.0.0.1", "postgres", "?sslmode=require"),
        &[("ESCROWGRID_REPLICA_URL", &replica_url)],
    );
    let primary = transport(&o);
    assert_eq!(primary["certificateVerified"], false, "{primary}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["replica"]["transport"];
    assert_eq!(t["encrypted"], true, "{v}");
    assert_eq!(t["hostNameVerified"], true, "{v}");
    assert_eq!(t["sslMode"], "verify-full", "{v}");
    let text = common::escrowgrid(&data)
        .args([
            "--database-url",
            &url("127.0.0.1", "postgres", "?sslmode=require"),
            "health",
        ])
        .env("ESCROWGRID_REPLICA_URL", &replica_url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("replica conn.:  encrypted (TLS")
            && text.contains("certificate and host name verified (sslmode=verify-full)"),
        "{text}"
    );
}

#[test]
fn require_against_a_server_without_tls_fails_and_prefer_says_plaintext() {
    let Some(pg) = own_pg::start_or_skip("require_against_a_server_without_tls") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let why = refused(&health(&data, &format!("{base}?sslmode=require"), &[]));
    assert!(
        why.contains("sslmode=require requires TLS and the server at 127.0.0.1 offers none"),
        "{why}"
    );
    let why = refused(&health(&data, &base, &[("PGSSLMODE", "require")]));
    assert!(why.contains("sslmode=require (from PGSSLMODE"), "{why}");
    let t = transport(&health(&data, &base, &[]));
    assert_eq!(t["encrypted"], false, "{t}");
    let text = common::escrowgrid(&data)
        .args(["--database-url", &base, "health"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("connection:     NOT encrypted (sslmode=prefer)"),
        "{text}"
    );
    let _keep: &OwnPostgres = &pg;
}
