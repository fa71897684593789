//! One module per subcommand.

pub mod collect;
pub mod dag;
pub mod demo;
pub mod evaluate;
pub mod events;
pub mod feedback;
pub mod q;
pub mod scan;
pub mod serve;
pub mod simulate;
pub mod train;
