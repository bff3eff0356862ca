//! Integration tests of the MConnect simulators over real mTLS sockets, and of the hub's
//! MConnect Events consumer against the simulator.

mod events;
mod helpers;
mod mnotify;
mod module;
