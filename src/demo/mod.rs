//! The demo: the data set (`assets/demo.json`) loaded through the service, and the activity
//! simulator that keeps a demo console moving. Both drive the service like any operator would;
//! neither knows about the screen. A demo session can be kept in a store of its own (`keep`).

pub mod keep;
pub mod seed;
pub mod simulator;
