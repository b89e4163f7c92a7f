//! Ring-buffer records → typed events. Decoding is pure (bytes in, event out);
//! the reader loop lives in `pipeline`.

use observer_common::chunk::{
    kind, ChunkHeader, ConnEvent, EventHeader, FileKey, HeldEvent, ProcEvent, SocketEvent, COMM_LEN,
};

/// One decoded ring-buffer record. `Data` borrows the record's bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum CaptureEvent<'a> {
    Data {
        header: ChunkHeader,
        bytes: &'a [u8],
    },
    Close {
        event: EventHeader,
        conn: u64,
    },
    Exec {
        event: EventHeader,
        comm: String,
    },
    Exit {
        event: EventHeader,
    },
    /// The fd a connection's SSL calls use (first seen, or changed).
    Socket(SocketEvent),
    /// The process that just exec'd `file` is stopped until the agent has
    /// examined the file (and continues it).
    Held {
        event: EventHeader,
        file: FileKey,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is too short")]
    Short(usize),
    #[error("unknown event kind {0}")]
    Kind(u32),
}

/// Decodes one record as the kernel wrote it.
pub fn decode(record: &[u8]) -> Result<CaptureEvent<'_>, DecodeError> {
    let event: EventHeader = read(record)?;
    match event.kind {
        kind::DATA => {
            let header: ChunkHeader = read(record)?;
            let start = size_of::<ChunkHeader>();
            let end = start.saturating_add(header.captured as usize);
            let bytes = record
                .get(start..end)
                .ok_or(DecodeError::Short(record.len()))?;
            Ok(CaptureEvent::Data { header, bytes })
        }
        kind::CLOSE => {
            let e: ConnEvent = read(record)?;
            Ok(CaptureEvent::Close {
                event: e.event,
                conn: e.conn,
            })
        }
        kind::EXEC => {
            let e: ProcEvent = read(record)?;
            Ok(CaptureEvent::Exec {
                event: e.event,
                comm: comm_string(&e.comm),
            })
        }
        kind::EXIT => Ok(CaptureEvent::Exit { event }),
        kind::SOCKET_FD => Ok(CaptureEvent::Socket(read(record)?)),
        kind::HELD => {
            let e: HeldEvent = read(record)?;
            Ok(CaptureEvent::Held {
                event: e.event,
                file: e.file,
            })
        }
        other => Err(DecodeError::Kind(other)),
    }
}

/// A NUL-padded comm as a string.
pub fn comm_string(comm: &[u8; COMM_LEN]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// Reads a `#[repr(C)]` plain-integer struct from the start of `record`.
fn read<T: Copy + Plain>(record: &[u8]) -> Result<T, DecodeError> {
    if record.len() < size_of::<T>() {
        return Err(DecodeError::Short(record.len()));
    }
    // SAFETY: length checked; T is plain integers (any bit pattern is valid);
    // read_unaligned copes with any alignment.
    Ok(unsafe { record.as_ptr().cast::<T>().read_unaligned() })
}

/// Marker: `#[repr(C)]` structs of integers only.
trait Plain {}
impl Plain for EventHeader {}
impl Plain for ChunkHeader {}
impl Plain for ConnEvent {}
impl Plain for ProcEvent {}
impl Plain for SocketEvent {}
impl Plain for HeldEvent {}

#[cfg(test)]
mod tests {
    use observer_common::chunk::dir;

    use super::*;

    fn bytes_of<T>(v: &T) -> Vec<u8> {
        // SAFETY: test-only view of a plain struct.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    #[test]
    fn decodes_a_data_chunk_with_its_captured_bytes_only() {
        let header = ChunkHeader {
            event: EventHeader {
                kind: kind::DATA,
                pid: 7,
                tid: 8,
                uid: 0,
                ts_ns: 99,
            },
            conn: 0xdead,
            pos: 10,
            call_pos: 10,
            call_len: 5,
            captured: 5,
            dir: dir::READ,
            lib: 1,
            flags: 0,
        };
        let mut rec = bytes_of(&header);
        rec.extend_from_slice(b"hello-and-padding");
        assert_eq!(
            decode(&rec),
            Ok(CaptureEvent::Data {
                header,
                bytes: b"hello"
            })
        );
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        assert_eq!(decode(&[1, 0, 0]), Err(DecodeError::Short(3)));
        let e = EventHeader {
            kind: 77,
            ..Default::default()
        };
        assert_eq!(decode(&bytes_of(&e)), Err(DecodeError::Kind(77)));
        let mut h = ChunkHeader {
            captured: 100,
            ..Default::default()
        };
        h.event.kind = kind::DATA;
        assert_eq!(decode(&bytes_of(&h)), Err(DecodeError::Short(64)));
    }

    #[test]
    fn decodes_a_socket_fd_event() {
        let e = SocketEvent {
            event: EventHeader {
                kind: kind::SOCKET_FD,
                pid: 3,
                tid: 4,
                uid: 1000,
                ts_ns: 5,
            },
            conn: 0xabc,
            fd: 7,
            lib: 1,
            _pad: 0,
        };
        assert_eq!(decode(&bytes_of(&e)), Ok(CaptureEvent::Socket(e)));
        assert_eq!(decode(&bytes_of(&e)[..39]), Err(DecodeError::Short(39)));
    }

    #[test]
    fn decodes_exec_comm() {
        let mut comm = [0u8; COMM_LEN];
        comm[..4].copy_from_slice(b"curl");
        let e = ProcEvent {
            event: EventHeader {
                kind: kind::EXEC,
                pid: 3,
                ..Default::default()
            },
            comm,
        };
        assert_eq!(
            decode(&bytes_of(&e)),
            Ok(CaptureEvent::Exec {
                event: e.event,
                comm: "curl".into()
            })
        );
    }
}
