//! A throwaway test CA and one server certificate (SANs: every host the mock
//! serves, [`MOCK_HOSTS`], and 127.0.0.1), made with the `openssl` CLI.

use crate::netns::{API_HOST, MOCK_HOSTS};
use crate::util::run_bounded;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub server_pem: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    run_bounded(
        Command::new("openssl").current_dir(dir).args(args),
        Duration::from_secs(60),
    )
    .expect_ok(&format!("openssl {}", args.join(" ")));
}

impl TestCa {
    pub fn create(dir: &Path) -> TestCa {
        let dir = dir.join("ca");
        fs::create_dir_all(&dir).expect("mkdir ca");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=llm-observer e2e test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                &format!("/CN={API_HOST}"),
            ],
        );
        let sans = MOCK_HOSTS
            .iter()
            .map(|h| format!("DNS:{h}"))
            .collect::<Vec<_>>()
            .join(",");
        // Also 127.0.0.1, for TLS in front of the local ClickHouse.
        let sans = format!("{sans},IP:127.0.0.1");
        fs::write(
            dir.join("ext.cnf"),
            format!(
                "subjectAltName={sans}\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("write ext.cnf");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        TestCa {
            ca_pem: dir.join("ca.pem"),
            server_pem: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}
