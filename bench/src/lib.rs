//! The test bench for hslambda: runs that drive the local AWS emulator (`lambda-emulator`) and the
//! function through it, and report what they found.
//!
//! * [`race`] — concurrent writers, then a check that no acknowledged write was lost;
//! * [`soak`] — mixed reads and writes while S3 injects faults, then verification;
//! * [`load`] — Invoke API load at and above the concurrency limit, checking for leaks and throttling;
//! * [`tune`] — memory size × timeout × start mode, priced (and `tune::selection`, hslambda vs HSDS).
//!
//! They share [`stack`] (the one way to start a private stack), [`rest_client`] (the HDF REST calls the
//! bench makes) and [`report`] (latency line, verdict, printing). This crate depends on the emulator,
//! never the other way.

pub mod load;
pub mod race;
pub mod report;
pub mod rest_client;
pub mod soak;
pub mod stack;
pub mod tune;
