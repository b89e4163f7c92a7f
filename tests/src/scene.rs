//! The usual stage of a privileged end-to-end test: the serial lock, a temp
//! dir, the agent (host namespaces), a private network namespace, the test CA
//! and the mock providers. Destructure it to keep the parts' usual names.

use crate::{
    agent::Agent,
    ca::TestCa,
    mock::Mock,
    netns::Netns,
    util::{privileged_or_skip, serial_guard, SerialGuard, TempDir},
};

pub struct Scene {
    /// Held for the whole test: privileged tests never overlap.
    pub serial: SerialGuard,
    pub tmp: TempDir,
    pub agent: Agent,
    pub ns: Netns,
    pub ca: TestCa,
    pub mock: Mock,
}

impl Scene {
    /// `None` when the test is skipped (not root without CI, or no agent
    /// binary outside CI; under CI=true those fail instead).
    pub fn start(test: &str, tag: &str, agent_args: &[&str]) -> Option<Scene> {
        if !privileged_or_skip(test) {
            return None;
        }
        let serial = serial_guard();
        let tmp = TempDir::new(tag);
        let agent = Agent::start(tmp.path(), agent_args)?;
        let ns = Netns::with_test_hosts();
        let ca = TestCa::create(tmp.path());
        let mock = Mock::start(&ns, &ca, tmp.path());
        Some(Scene {
            serial,
            tmp,
            agent,
            ns,
            ca,
            mock,
        })
    }
}
