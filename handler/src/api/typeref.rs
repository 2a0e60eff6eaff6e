//! Resolving the `type` of a request body: predefined names, JSON types, and committed `t-...` datatype ids (which need a store lookup).
