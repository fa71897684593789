//! One module per subcommand.

pub mod evaluate;
pub mod events;
pub mod train;
pub mod q;
