//! `/ping` and `/compute`: the smallest JSON handlers, and the "app context" example.
//!
//! Flask reaches shared objects through `current_app`; here a handler names the piece of state it needs
//! (`State<Calculator>`) and the app factory provides it once for every request.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

/// A service built once at start-up and shared by every request through the app state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calculator {
    multiplicand: u64,
    multiplier: u64,
}

impl Calculator {
    pub fn new(multiplicand: u64, multiplier: u64) -> Self {
        Calculator {
            multiplicand,
            multiplier,
        }
    }

    /// The product, saturating rather than overflowing.
    pub fn compute(&self) -> u64 {
        self.multiplicand.saturating_mul(self.multiplier)
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Pong {
    pong: bool,
}

pub(crate) async fn ping_show() -> Json<Pong> {
    Json(Pong { pong: true })
}

#[derive(Debug, Serialize)]
pub(crate) struct Computation {
    result: u64,
}

pub(crate) async fn compute_show(State(calculator): State<Calculator>) -> Json<Computation> {
    Json(Computation {
        result: calculator.compute(),
    })
}
