//! `impl NetworkProvider for SimProviders`: `bind` and `connect`.
//!
//! # Connect, step by step
//! 1. Faults first: a hanging connect (`net.connect_hang`) never completes;
//!    a connect across a partition hangs or fails (`HostUnreachable`), per
//!    seed.
//! 2. The SYN travels one latency (clogs apply) to the target.
//! 3. There, a listener queues the connection in its backlog (or the
//!    connect is refused: nothing listens, the backlog is full, or
//!    `net.connect_refused`; a dead process may swallow the SYN instead).
//! 4. The SYN-ACK travels one latency back; `connect` returns.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{NetworkProvider, TimeProvider};

use super::connection::HELD;
use super::listener::{self, ListenerState};
use super::{SimListener, SimTcpStream};
use crate::kernel::draw;
use crate::model::providers::SimProviders;

impl SimProviders {
    /// The IP this process's sockets use for `ip` (unspecified and
    /// loopback addresses mean the process's own IP).
    fn own_ip_for(&self, ip: IpAddr) -> IpAddr {
        if ip.is_unspecified() || ip.is_loopback() {
            self.ip()
        } else {
            ip
        }
    }

    fn check_alive(&self) -> io::Result<()> {
        self.world.ensure_live("a network call");
        if self.is_alive() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the process that owns these providers is dead",
            ))
        }
    }
}

/// Never completes: a connect whose SYN was lost.
async fn hang() -> io::Result<SimTcpStream> {
    std::future::pending::<()>().await;
    Err(io::Error::other("unreachable"))
}

impl NetworkProvider for SimProviders {
    type Stream = SimTcpStream;
    type Listener = SimListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<SimListener> {
        self.check_alive()?;
        let world = &self.world;
        let own = self.ip();
        let ip = self.own_ip_for(addr.ip());
        if ip != own {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{ip} is not this process's address ({own})"),
            ));
        }
        let fail = {
            let p = world.net.borrow().links.faults.bind_fail;
            draw::bool(world, p)
        };
        if fail {
            world.note("net.bind_fail", Some(self.process), || {
                format!("bind {addr} failed")
            });
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "address in use (simulated bind failure)",
            ));
        }
        let mut net = world.net.borrow_mut();
        let port = match addr.port() {
            0 => net.alloc_port(ip)?,
            p => {
                if !net.ports_in_use.insert(SocketAddr::new(ip, p)) {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{ip}:{p} is already in use"),
                    ));
                }
                p
            }
        };
        let local = SocketAddr::new(ip, port);
        let serial = net.next_listener_serial;
        net.next_listener_serial += 1;
        net.listeners
            .insert(local, ListenerState::new(self.process, serial));
        Ok(SimListener::new(Rc::clone(world), local, serial))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SimTcpStream> {
        self.check_alive()?;
        let world = Rc::clone(&self.world);
        let src = self.ip();
        let dst = self.own_ip_for(addr.ip());
        let target = SocketAddr::new(dst, addr.port());
        let (hang_p, blocked, fails, extra) = {
            let mut net = world.net.borrow_mut();
            let links = &mut net.links;
            let blocked = links.partitions.blocks(src, dst) || links.partitions.blocks(dst, src);
            let extra = links.pair_extra_ns(&world, src, dst);
            (
                links.faults.connect_hang,
                blocked,
                links.partition_connect_fails,
                extra,
            )
        };
        if draw::bool(&world, hang_p) {
            world.note("net.connect_hang", Some(self.process), || {
                format!("connect to {target} hangs (SYN lost)")
            });
            return hang().await;
        }
        if blocked {
            if fails {
                self.sleep(Duration::from_millis(1)).await;
                return Err(io::Error::new(
                    io::ErrorKind::HostUnreachable,
                    format!("{target} is unreachable (partitioned)"),
                ));
            }
            return hang().await;
        }
        // SYN: client to server.
        let syn_at = {
            let net = world.net.borrow();
            net.links.arrival(&world, world.now_ns(), src, dst, extra)
        };
        self.sleep_until(moonpool_core::Instant::from_nanos(syn_at))
            .await;
        let stream = listener::arrive(&world, self.process, src, target, extra)?;
        let stream = match stream {
            Ok(stream) => stream,
            Err(refusal) => {
                if refusal == listener::Refusal::Unreachable {
                    let hangs = world.net.borrow().links.faults.unreachable_connect_hangs;
                    if hangs {
                        world.note("net.connect_hang", Some(self.process), || {
                            format!("connect to {target}: nothing listens, SYN swallowed")
                        });
                        return hang().await;
                    }
                }
                // RST back to the client.
                let rst_at = {
                    let net = world.net.borrow();
                    net.links.arrival(&world, world.now_ns(), dst, src, extra)
                };
                if rst_at < HELD {
                    self.sleep_until(moonpool_core::Instant::from_nanos(rst_at))
                        .await;
                }
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection to {target} refused"),
                ));
            }
        };
        // SYN-ACK: server to client.
        let ack_at = {
            let net = world.net.borrow();
            net.links.arrival(&world, world.now_ns(), dst, src, extra)
        };
        if ack_at >= HELD {
            return hang().await;
        }
        self.sleep_until(moonpool_core::Instant::from_nanos(ack_at))
            .await;
        Ok(stream)
    }
}
