//! Concrete stores behind the `ports` traits.
