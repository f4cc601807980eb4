//! Fair assignment (docs/ROUTING.md): departments (their members and routing settings) and
//! one queue actor per department, the single writer of that department's routing
//! decisions, driving a [`crate::domain::routing::Router`].
//!
//! - [`departments`]: the directory of departments, loaded at start and changed through the
//!   admin API; each entry holds its queue actor's address.
//! - [`queue_actor`]: the actor: carries out the router's effects (offers to agents'
//!   connections, assignments through the session actors, places in line to visitors) and
//!   its one timer.
//! - [`capacity`]: the router's view of agents' loads: the hub's queue view, the one ledger
//!   every accept path reserves from, so capacity holds across departments and accepts.
//! - [`facade`]: the `Engine` methods for departments, presence and offers.
//! - [`across`]: cluster mode: one department queue for every node (its leader), the
//!   agents' presence across nodes, and what queue actors on different nodes tell each
//!   other.

pub mod across;
pub(crate) mod capacity;
pub mod departments;
pub mod facade;
pub(crate) mod queue_actor;

pub use departments::Department;
pub use facade::TransferTo;
pub use queue_actor::outcome_name;
