//! Benchmark support: the runtime under measurement as a child process, the native baseline,
//! billing at scale (`billing`), the purchase write path (`purchase`).
pub mod app;
pub mod billing;
pub mod load;
pub mod native;
pub mod proc;
pub mod purchase;
