//! Which function is which: BoringSSL's `ssl_lib.cc` functions told apart by
//! the `OPENSSL_PUT_ERROR` reasons they record and whom they call, each role
//! matched by exactly one function, and their source lines in file order.

use std::collections::BTreeMap;

use super::BoringError;
use crate::discovery::stripped::code::Function;

/// `SSL_R_*` reason codes (BoringSSL `include/openssl/ssl.h`, stable since
/// the fork).
pub mod reason {
    pub const SHOULD_NOT_HAVE_BEEN_CALLED: u32 = 66;
    pub const BAD_LENGTH: u32 = 111;
    pub const CONNECTION_TYPE_NOT_SET: u32 = 134;
    pub const SSL_HANDSHAKE_FAILURE: u32 = 215;
    pub const UNINITIALIZED: u32 = 226;
    pub const APPLICATION_DATA_ON_SHUTDOWN: u32 = 291;
}

/// The functions found (virtual addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub handshake: u64,
    pub write: u64,
    pub read_impl: u64,
    pub shutdown: u64,
}

fn only(
    role: &'static str,
    funcs: &BTreeMap<u64, Function>,
    pick: impl Fn(&Function) -> bool,
) -> Result<u64, BoringError> {
    let found: Vec<u64> = funcs
        .values()
        .filter(|f| pick(f))
        .map(|f| f.start)
        .collect();
    match found[..] {
        [one] => Ok(one),
        _ => Err(BoringError::Role {
            role,
            candidates: found.len(),
        }),
    }
}

/// `SSL_do_handshake` (the only one recording CONNECTION_TYPE_NOT_SET),
/// `SSL_write` (UNINITIALIZED, SSL_HANDSHAKE_FAILURE and BAD_LENGTH; calls
/// the handshake), `ssl_read_impl` (the first two, not BAD_LENGTH; calls the
/// handshake), `SSL_shutdown` (UNINITIALIZED and
/// APPLICATION_DATA_ON_SHUTDOWN).
pub fn assign(funcs: &BTreeMap<u64, Function>) -> Result<Roles, BoringError> {
    use reason::*;
    let handshake = only("SSL_do_handshake", funcs, |f| {
        f.has(CONNECTION_TYPE_NOT_SET)
    })?;
    let write = only("SSL_write", funcs, |f| {
        f.has(UNINITIALIZED)
            && f.has(SSL_HANDSHAKE_FAILURE)
            && f.has(BAD_LENGTH)
            && f.calls(handshake)
    })?;
    let read_impl = only("ssl_read_impl", funcs, |f| {
        f.start != write
            && f.has(UNINITIALIZED)
            && f.has(SSL_HANDSHAKE_FAILURE)
            && !f.has(BAD_LENGTH)
            && f.calls(handshake)
    })?;
    let shutdown = only("SSL_shutdown", funcs, |f| {
        f.has(UNINITIALIZED) && f.has(APPLICATION_DATA_ON_SHUTDOWN)
    })?;
    if !funcs[&shutdown].calls(read_impl) {
        return Err(BoringError::CallGraph(
            "SSL_shutdown does not call ssl_read_impl",
        ));
    }
    Ok(Roles {
        handshake,
        write,
        read_impl,
        shutdown,
    })
}

/// `SSL_read`: of the callers of `ssl_read_impl`, the one (not
/// `SSL_shutdown`) that carries the inlined `SSL_peek`'s
/// SHOULD_NOT_HAVE_BEEN_CALLED record.
pub fn read(funcs: &BTreeMap<u64, Function>, roles: &Roles) -> Result<u64, BoringError> {
    only("SSL_read", funcs, |f| {
        f.start != roles.shutdown
            && f.calls(roles.read_impl)
            && f.has(reason::SHOULD_NOT_HAVE_BEEN_CALLED)
    })
}

/// The records' lines follow the functions' order in `ssl_lib.cc`:
/// `SSL_do_handshake` < `ssl_read_impl` < `SSL_peek` (in `SSL_read`) <
/// `SSL_write`'s three < `SSL_shutdown`.
pub fn check_order(
    funcs: &BTreeMap<u64, Function>,
    roles: &Roles,
    read: u64,
) -> Result<(), BoringError> {
    use reason::*;
    let line = |f: u64, r: u32| funcs[&f].line(r).unwrap_or(0);
    let order = [
        line(roles.handshake, CONNECTION_TYPE_NOT_SET),
        line(roles.read_impl, UNINITIALIZED),
        line(read, SHOULD_NOT_HAVE_BEEN_CALLED),
        line(roles.write, UNINITIALIZED),
        line(roles.write, SSL_HANDSHAKE_FAILURE),
        line(roles.write, BAD_LENGTH),
        line(roles.shutdown, UNINITIALIZED),
    ];
    if order.windows(2).all(|w| w[0] < w[1]) {
        Ok(())
    } else {
        Err(BoringError::LineOrder(order.to_vec()))
    }
}

/// `ERR_put_error`: the target most records call (four in five at least).
pub fn check_err_put_error(funcs: &BTreeMap<u64, Function>) -> Result<(), BoringError> {
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for r in funcs.values().flat_map(|f| &f.records) {
        if let Some(v) = r.via {
            *count.entry(v).or_default() += 1;
        }
    }
    let total: usize = count.values().sum();
    let top = count.values().copied().max().unwrap_or(0);
    if total > 0 && top * 5 >= total * 4 {
        Ok(())
    } else {
        Err(BoringError::NoErrPutError)
    }
}
