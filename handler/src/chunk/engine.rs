//! The read/write engine: a selection served chunk by chunk into one output buffer, with bounded bytes in flight.
