//! Ports for the processes a run starts (a SUT, its upper tester, TLS listeners): always
//! chosen by the OS, never fixed.

/// A free TCP port on 127.0.0.1 chosen by the OS (bound and released: a fixed port could
/// collide, and a port in the ephemeral range must come from the OS).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
