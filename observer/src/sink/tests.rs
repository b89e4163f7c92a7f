use std::sync::Mutex;

use super::*;

/// Keeps what it is given; fails or panics on the records it is told to.
struct Probe {
    name: &'static str,
    got: Arc<Mutex<Vec<u32>>>,
    fail_pid: Option<u32>,
    panic_pid: Option<u32>,
}

impl Sink for Probe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn write(&mut self, r: &CallRecord) -> io::Result<()> {
        if Some(r.pid) == self.panic_pid {
            panic!("sink bug on pid {}", r.pid);
        }
        if Some(r.pid) == self.fail_pid {
            return Err(io::Error::other("disk full"));
        }
        self.got.lock().unwrap().push(r.pid);
        Ok(())
    }
}

fn probe(
    name: &'static str,
    fail_pid: Option<u32>,
    panic_pid: Option<u32>,
) -> (Box<dyn Sink>, Arc<Mutex<Vec<u32>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Probe {
        name,
        got: got.clone(),
        fail_pid,
        panic_pid,
    };
    (Box::new(sink), got)
}

#[test]
fn a_failing_or_panicking_sink_keeps_no_record_from_the_others() {
    let mut sinks = Sinks::default();
    let (first, first_got) = probe("first", Some(2), Some(3));
    let (second, second_got) = probe("second", None, None);
    sinks.add(first);
    sinks.add(second);
    let mut oks = Vec::new();
    for pid in 1..=4 {
        let r = CallRecord {
            pid,
            ..CallRecord::default()
        };
        oks.push(sinks.write(&r));
    }
    assert_eq!(oks, [true, false, false, true]);
    assert_eq!(*first_got.lock().unwrap(), [1, 4]);
    assert_eq!(*second_got.lock().unwrap(), [1, 2, 3, 4]);
    assert_eq!(sinks.failures(), 2);
    let mut stats = Stats::default();
    export_health(&sinks.health(), &mut stats);
    let failures = stats.labeled("sink_write_failures").unwrap();
    let panics = stats.labeled("sink_panics").unwrap();
    assert_eq!((failures["first"], failures["second"]), (1, 0));
    assert_eq!((panics["first"], panics["second"]), (1, 0));
}
