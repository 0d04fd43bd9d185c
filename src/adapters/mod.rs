//! Concrete stores behind the `ports` traits.
pub mod broadcast;
pub mod memory;
pub mod seaorm;
