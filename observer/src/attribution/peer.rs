//! Where a connection goes: the remote address and port of the socket an SSL
//! object reads and writes. The kernel reports the fd (`SOCKET_FD`, from the
//! syscalls nested in an SSL call). We take a copy of that fd with
//! `pidfd_getfd` and ask `getpeername` (a few syscalls, whatever the number of
//! sockets on the host); where that is refused (kernel < 5.6, ptrace policy)
//! we read `/proc/<pid>/fd/<fd>` → `socket:[INODE]` and find INODE in
//! `/proc/<pid>/net/tcp{,6}` (the process's own network namespace), which
//! costs a parse of every socket in that namespace.
//!
//! Parsing is pure; [`resolve`] is the I/O around it; [`Resolver`] answers
//! from /proc (run) or from what a capture file recorded (replay).

use std::{
    collections::HashMap,
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

/// What an fd turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A TCP socket connected to this address.
    Peer(SocketAddr),
    /// A socket, but not TCP (unix, UDP…): no peer address.
    NotTcp,
    /// Not a socket at all (a file or pipe written inside the SSL call):
    /// says nothing about the connection.
    NotSocket,
    /// The fd or /proc could not be read (process gone, fd closed).
    Unresolved,
}

/// `socket:[12345]` (the link of a socket fd) → 12345.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// One line of `/proc/net/tcp` or `/proc/net/tcp6` → (inode, remote address).
/// None for the header line and malformed lines.
pub fn parse_tcp_line(line: &str) -> Option<(u64, SocketAddr)> {
    let mut fields = line.split_whitespace();
    // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
    let remote = fields.nth(2)?;
    let inode = fields.nth(6)?.parse().ok()?;
    Some((inode, parse_hex_addr(remote)?))
}

/// `0100007F:01BB` (IPv4) or 32 hex digits `:PORT` (IPv6) → address. The
/// address is printed as 32-bit words in host (little-endian) byte order, the
/// port as a plain number. IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(hex_word(addr)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, out) in bytes.chunks_exact_mut(4).enumerate() {
                // `get`: a multibyte character across a word is no address.
                out.copy_from_slice(&hex_word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Eight hex digits of a little-endian 32-bit word → its bytes in memory order.
fn hex_word(s: &str) -> Option<[u8; 4]> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(u32::from_str_radix(s, 16).ok()?.to_le_bytes())
}

/// The remote address of socket `inode` in a `/proc/net/tcp{,6}` table.
pub fn find_peer(table: &str, inode: u64) -> Option<SocketAddr> {
    table
        .lines()
        .skip(1)
        .filter_map(parse_tcp_line)
        .find(|(i, _)| *i == inode)
        .map(|(_, addr)| addr)
}

/// Resolves fd `fd` of process `pid` now (never blocks).
pub fn resolve(pid: u32, fd: i32) -> Lookup {
    if fd < 0 {
        return Lookup::NotSocket;
    }
    by_pidfd(pid, fd).unwrap_or_else(|| by_proc(pid, fd))
}

/// Through a copy of the fd: None when the kernel or policy refuses the copy.
fn by_pidfd(pid: u32, fd: i32) -> Option<Lookup> {
    use rustix::{
        io::Errno,
        net::{getpeername, sockopt, SocketType},
        process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags},
    };
    let pid = Pid::from_raw(i32::try_from(pid).ok()?)?;
    let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(p) => p,
        Err(Errno::SRCH) => return Some(Lookup::Unresolved),
        Err(_) => return None,
    };
    let ours = match pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()) {
        Ok(f) => f,
        Err(Errno::BADF | Errno::SRCH) => return Some(Lookup::Unresolved),
        Err(_) => return None,
    };
    Some(match getpeername(&ours) {
        Ok(Some(addr)) => match SocketAddr::try_from(addr) {
            Ok(a) if sockopt::socket_type(&ours).ok() == Some(SocketType::STREAM) => {
                Lookup::Peer(canonical(a))
            }
            _ => Lookup::NotTcp,
        },
        Ok(None) => Lookup::NotTcp,
        Err(Errno::NOTSOCK) => Lookup::NotSocket,
        Err(_) => Lookup::Unresolved,
    })
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as the IPv4 address.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// Through /proc (the fallback).
fn by_proc(pid: u32, fd: i32) -> Lookup {
    let Ok(link) = fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
        return Lookup::Unresolved;
    };
    let Some(inode) = link.to_str().and_then(socket_inode) else {
        return Lookup::NotSocket;
    };
    let mut readable = false;
    for table in ["tcp", "tcp6"] {
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            readable = true;
            if let Some(addr) = find_peer(&text, inode) {
                return Lookup::Peer(addr);
            }
        }
    }
    if readable {
        Lookup::NotTcp
    } else {
        Lookup::Unresolved
    }
}

/// Key of a recorded lookup: (pid, SSL object, fd).
pub type SocketId = (u32, u64, i32);

/// Resolves fds from /proc, or (offline, for replay) from recorded lookups.
#[derive(Debug, Default)]
pub struct Resolver {
    offline: bool,
    recorded: HashMap<SocketId, Lookup>,
}

impl Resolver {
    /// Never reads /proc: answers only what [`Resolver::record`] was told.
    pub fn offline() -> Self {
        Self {
            offline: true,
            recorded: HashMap::new(),
        }
    }

    /// A lookup made when the capture was recorded.
    pub fn record(&mut self, id: SocketId, lookup: Lookup) {
        if self.offline {
            self.recorded.insert(id, lookup);
        }
    }

    pub fn resolve(&mut self, id: SocketId) -> Lookup {
        if self.offline {
            self.recorded.remove(&id).unwrap_or(Lookup::Unresolved)
        } else {
            resolve(id.0, id.2)
        }
    }

    /// The process exited: recorded lookups of it are void.
    pub fn forget_pid(&mut self, pid: u32) {
        if !self.recorded.is_empty() {
            self.recorded.retain(|id, _| id.0 != pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write as _,
        net::{TcpListener, TcpStream},
        os::fd::AsRawFd as _,
    };

    use super::*;

    // Lines from a real /proc/net/tcp and /proc/net/tcp6 (Linux 6.18).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4DD3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 613552 1 0000000031992ea5 100 0 0 10 0
   3: 0100007F:BEEA 0100007F:A079 01 00000000:00000000 00:00000000 00000000     0        0 613852 2 000000005c27dc09 20 0 0 10 -1
   4: 0100007F:B832 0100007F:49EB 06 00000000:00000000 03:000013CF 00000000     0        0 0 3 000000005ceb968e
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 00000000000000000000000001000000:A079 00000000000000000000000001000000:B27A 01 00000000:00000000 00:00000000 00000000     0        0 613849 1 00000000d42ec112 20 0 0 10 -1
   2: 0000000000000000FFFF00000100007F:BEDA 0000000000000000FFFF00000100007F:A079 01 00000000:00000000 00:00000000 00000000     0        0 613850 2 00000000a9cd007f 20 0 0 10 -1
";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ipv4_and_ipv6_addresses() {
        assert_eq!(parse_hex_addr("0100007F:01BB"), Some(addr("127.0.0.1:443")));
        assert_eq!(
            parse_hex_addr("0A00A8C0:A079"),
            Some(addr("192.168.0.10:41081"))
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:B27A"),
            Some(addr("[::1]:45690"))
        );
        // 2001:db8::5 is stored as bytes 20 01 0d b8 0..0 00 05.
        assert_eq!(
            parse_hex_addr("B80D0120000000000000000005000000:0050"),
            Some(addr("[2001:db8::5]:80"))
        );
        // IPv4-mapped IPv6 is shown as the IPv4 address.
        assert_eq!(
            parse_hex_addr("0000000000000000FFFF00000100007F:A079"),
            Some(addr("127.0.0.1:41081"))
        );
        for bad in [
            "",
            "0100007F",
            "0100007F:",
            "0100007G:01BB",
            "01007F:01BB",
            "0100007F:1FFFF",
            // 32 bytes, a multibyte character across a word (found by the
            // proc_files fuzz target: it panicked).
            "0000000\u{3cf}00000000000000000000000:0000",
        ] {
            assert_eq!(parse_hex_addr(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn finds_the_remote_address_of_an_inode() {
        assert_eq!(find_peer(TCP, 613852), Some(addr("127.0.0.1:41081")));
        assert_eq!(find_peer(TCP, 613552), Some(addr("0.0.0.0:0")));
        assert_eq!(find_peer(TCP, 1), None);
        assert_eq!(find_peer(TCP6, 613849), Some(addr("[::1]:45690")));
        assert_eq!(find_peer(TCP6, 613850), Some(addr("127.0.0.1:41081")));
        assert_eq!(parse_tcp_line(TCP.lines().next().unwrap()), None);
    }

    #[test]
    fn reads_socket_inodes_from_fd_links() {
        assert_eq!(socket_inode("socket:[613848]"), Some(613848));
        assert_eq!(socket_inode("pipe:[613848]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn resolves_fds_of_this_process() {
        let me = std::process::id();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(
            resolve(me, stream.as_raw_fd()),
            Lookup::Peer(addr(&format!("127.0.0.1:{port}")))
        );
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(resolve(me, a.as_raw_fd()), Lookup::NotTcp);
        let mut null = fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        null.write_all(b"x").unwrap();
        assert_eq!(resolve(me, null.as_raw_fd()), Lookup::NotSocket);
        assert_eq!(resolve(me, -1), Lookup::NotSocket);
        assert_eq!(resolve(u32::MAX - 3, 3), Lookup::Unresolved);
        // The /proc fallback agrees.
        assert_eq!(
            by_proc(me, stream.as_raw_fd()),
            Lookup::Peer(addr(&format!("127.0.0.1:{port}")))
        );
        assert_eq!(by_proc(me, a.as_raw_fd()), Lookup::NotTcp);
        assert_eq!(by_proc(me, null.as_raw_fd()), Lookup::NotSocket);
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.connect(("127.0.0.1", port)).unwrap();
        assert_eq!(resolve(me, udp.as_raw_fd()), Lookup::NotTcp);
        let v6 = TcpListener::bind("[::]:0");
        if let Ok(l6) = v6 {
            let p6 = l6.local_addr().unwrap().port();
            let s6 = TcpStream::connect(("127.0.0.1", p6)).unwrap();
            // Mapped: the listener is dual-stack; the client side is v4.
            assert_eq!(
                resolve(me, s6.as_raw_fd()),
                Lookup::Peer(addr(&format!("127.0.0.1:{p6}")))
            );
            let (srv, _) = l6.accept().unwrap();
            let client = s6.local_addr().unwrap();
            assert_eq!(
                resolve(me, srv.as_raw_fd()),
                Lookup::Peer(client),
                "::ffff: shown as v4"
            );
        }
    }

    #[test]
    fn offline_answers_only_recorded_lookups_once() {
        let mut r = Resolver::offline();
        let id = (std::process::id(), 0xabc, 3);
        r.record(id, Lookup::Peer(addr("10.0.0.1:8443")));
        assert_eq!(r.resolve(id), Lookup::Peer(addr("10.0.0.1:8443")));
        assert_eq!(r.resolve(id), Lookup::Unresolved);
        r.record(id, Lookup::NotTcp);
        r.forget_pid(id.0);
        assert_eq!(r.resolve(id), Lookup::Unresolved);
        // Live: recording is ignored.
        let mut live = Resolver::default();
        live.record(id, Lookup::NotTcp);
        assert!(live.recorded.is_empty());
    }
}
