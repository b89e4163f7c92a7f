//! Exchange → LlmCall: one adapter per API family, chosen by host and API shape.

pub mod call;
pub mod openai;
