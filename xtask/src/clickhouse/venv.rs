//! The venv holding the pinned chdb-core (`.state/chdb-venv`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Result};

use super::{CHDB_CORE_VERSION, VENV_DIR};
use crate::{exec, setup};

/// Installs chdb-core in `.state/chdb-venv` unless it is already importable
/// at the pinned version (`cargo xtask setup` calls this).
pub fn install_venv(root: &Path) -> Result<()> {
    let venv = root.join(VENV_DIR);
    let py = venv.join("bin/python");
    if chdb_importable(&py) {
        return Ok(());
    }
    let t0 = Instant::now();
    system_python_with_venv()?;
    if !py.exists() {
        exec(
            Command::new("/usr/bin/python3")
                .args(["-m", "venv"])
                .arg(&venv),
        )?;
    }
    exec(Command::new(&py).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        &format!("chdb-core=={CHDB_CORE_VERSION}"),
    ]))?;
    if !chdb_importable(&py) {
        bail!("chdb-core {CHDB_CORE_VERSION} installed in {venv:?} but `import chdb._chdb` fails");
    }
    eprintln!(
        "clickhouse: installed chdb-core {CHDB_CORE_VERSION} in {} ({:.1} s)",
        venv.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn chdb_importable(py: &Path) -> bool {
    let check = format!(
        "import importlib.metadata as m, chdb._chdb\n\
         assert m.version('chdb-core') == '{CHDB_CORE_VERSION}'"
    );
    py.exists()
        && Command::new(py)
            .args(["-c", &check])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn system_python_with_venv() -> Result<()> {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import ensurepip, venv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(());
    }
    setup::apt_install(&["python3", "python3-venv"])
}
